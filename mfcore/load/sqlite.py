"""User–item pairs from a table of a SQLite file (the playlist notebook's ``pairings(pid, tid)``).

Safety
------
- Nothing is ever written beside the file, so a read-only folder works: a file is opened as an
  immutable read-only URI (``?mode=ro&immutable=1``: no lock, no ``-wal``/``-shm`` created),
  unless a non-empty ``-wal`` or ``-journal`` lies beside it — then a private copy of both, in a
  temporary folder, is read (an immutable open would miss the pages still in the WAL). Uploads
  are deserialised into memory (a WAL-mode header switched to rollback mode in that copy). All
  with ``PRAGMA query_only``; the file and its companion are checked like every file a loader
  opens (:mod:`mfcore.load._files`). A file that is not SQLite is a :class:`DataError`.
- The table and column names are checked against ``sqlite_master`` and ``PRAGMA table_info``
  before use, then quoted as identifiers; every value goes through a ``?`` parameter. A wrong
  name is a :class:`DataError` listing what the file has.
- A progress handler interrupts any statement that runs past ``timeout_s`` (a recursive view
  cannot hang the app), and ``max_rows`` caps the rows fetched.

Defaults: the table ``pairings`` when present, else the only table; the first two columns are
user and item; with no ``value_col`` the data are implicit (values 1). ``max_users`` keeps the
users with the ``max_users`` smallest ids (``SELECT DISTINCT ... ORDER BY ... LIMIT ?``), which
for the playlist data means the first N playlists.
"""
from __future__ import annotations

import contextlib
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..interactions import Interactions
from ..idcodec import MAX_ID_CHARS
from ._files import checked_path, open_checked
from ._rows import F32_MAX
from ._io import SQLITE_MAGIC, Source, resolve

DEFAULT_TABLE = "pairings"
FETCH_ROWS = 1 << 16


def load_sqlite(source: Source, *, table: str | None = None, user_col: str | None = None,
                item_col: str | None = None, value_col: str | None = None,
                max_users: int | None = None, max_rows: int | None = None,
                duplicates: str = "sum", timeout_s: float = 30.0, allow_negative: bool = False,
                progress=None) -> Interactions:
    """Load (user, item[, value]) rows from one table or view of a SQLite database.

    Parameters
    ----------
    source : path or (name, bytes)
    table : str, optional
        Table or view name; default ``pairings``, or the only table.
    user_col, item_col : str, optional
        Column names; default the table's first two columns.
    value_col : str, optional
        A numeric column; without one the data are implicit (values 1).
    max_users : int, optional
        Keep only the ``max_users`` smallest user ids (playlist cap).
    max_rows : int, optional
        Stop after this many rows.
    duplicates : {'sum', 'max', 'last', 'first', 'error'}
    timeout_s : float
        Deadline for the whole read; a query still running then is interrupted.
    allow_negative : bool
        Accept negative values.

    Raises
    ------
    DataError
        Not a SQLite file, unknown table/column (listing those present), NULL or non-numeric
        values (naming the row and column), or the deadline passed.
    """
    info = resolve(source)
    if info.is_dir:
        raise DataError("is a folder; expected a SQLite file", source=info.name)
    if info.head(16) != SQLITE_MAGIC:
        raise DataError(f"not a SQLite database (it starts with {info.head(16)[:16]!r}; expected "
                        f"the header 'SQLite format 3\\0')", source=info.name)
    for what, n in (("max_users", max_users), ("max_rows", max_rows)):
        if n is not None and (int(n) != n or n < 1):
            raise DataError(f"{what} must be a positive integer, got {n!r}", source=info.name)
    deadline = time.monotonic() + float(timeout_s)

    def handler() -> int:
        return 1 if time.monotonic() > deadline else 0

    with contextlib.ExitStack() as stack:
        conn = _connect(info, stack)
        stack.callback(conn.close)
        conn.set_progress_handler(handler, 2000)
        try:
            return _read(conn, info.name, table, user_col, item_col, value_col, max_users,
                         max_rows, duplicates, allow_negative, progress)
        except sqlite3.OperationalError as exc:
            if "interrupt" in str(exc).lower():
                raise DataError(f"the query ran past the {timeout_s:g} s deadline (timeout_s) "
                                f"and was stopped; is the table a slow or recursive view?",
                                source=info.name, field=table) from None
            raise DataError(f"SQLite error: {exc}", source=info.name) from None
        except sqlite3.DatabaseError as exc:
            raise DataError(f"not a usable SQLite database ({exc})", source=info.name) from None


def _connect(info, stack: contextlib.ExitStack) -> sqlite3.Connection:
    """A read-only connection that writes nothing beside the file (see the module docstring)."""
    try:
        if info.data is not None:
            return _in_memory(info.data, info.name)
        real = checked_path(info.path, info.name, info.root)
        side = [real.with_name(real.name + x) for x in ("-wal", "-journal")]
        side = [f for f in side if f.exists() and f.stat().st_size > 0]
        if side:
            # Pages still in a WAL (or a hot journal): read a private copy of both files, never
            # the folder (an immutable open would silently miss those pages).
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="mfcore-sqlite-")))
            suffix = side[0].name[len(real.name):]
            for src, dst in ((real, tmp / "db"), (side[0], tmp / ("db" + suffix))):
                with open_checked(src, str(src), info.root) as f, open(dst, "wb") as out:
                    shutil.copyfileobj(f, out, 1 << 20)
            uri = (tmp / "db").as_uri()
        else:
            uri = real.as_uri() + "?mode=ro&immutable=1"
        conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        return conn
    except sqlite3.Error as exc:
        raise DataError(f"cannot open as SQLite ({exc})", source=info.name) from None


def _in_memory(data: bytes, name: str) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", check_same_thread=False)
    image = bytearray(data)
    if image[18:20] == b"\x02\x02":
        image[18:20] = b"\x01\x01"  # WAL mode -> rollback journal: an in-memory copy has no WAL
    try:
        conn.deserialize(bytes(image))
    except (AttributeError, sqlite3.Error) as exc:
        conn.close()
        raise DataError(f"not a usable SQLite database ({exc})", source=name) from None
    conn.execute("PRAGMA query_only = ON")
    return conn


def quote_ident(name: str) -> str:
    """Quote an identifier for SQLite (only ever applied to names checked against the schema)."""
    return '"' + name.replace('"', '""') + '"'


def list_tables(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
                        "AND name NOT LIKE 'sqlite_%' ORDER BY name").fetchall()
    return [r[0] for r in rows]


def table_columns(conn: sqlite3.Connection, table: str) -> list[str]:
    return [r[1] for r in conn.execute(f"PRAGMA table_info({quote_ident(table)})").fetchall()]


def _read(conn, name, table, user_col, item_col, value_col, max_users, max_rows, duplicates,
          allow_negative, progress) -> Interactions:
    tables = list_tables(conn)
    if not tables:
        raise DataError("the database has no tables or views", source=name)
    if table is None:
        if DEFAULT_TABLE in tables:
            table = DEFAULT_TABLE
        elif len(tables) == 1:
            table = tables[0]
        else:
            raise DataError(f"several tables and none named {DEFAULT_TABLE!r}: choose one of "
                            f"{', '.join(tables)}", source=name)
    elif table not in tables:
        raise DataError(f"no table or view named {table!r}; the file has: {', '.join(tables)}",
                        source=name, field=str(table))
    cols = table_columns(conn, table)
    if len(cols) < 2:
        raise DataError(f"table {table!r} has {len(cols)} column(s); expected at least a user "
                        f"and an item column", source=name, field=table)
    user_col = cols[0] if user_col is None else user_col
    item_col = cols[1] if item_col is None else item_col
    for role, col in (("user", user_col), ("item", item_col), ("value", value_col)):
        if col is not None and col not in cols:
            raise DataError(f"table {table!r} has no {role} column {col!r}; its columns are: "
                            f"{', '.join(cols)}", source=name, field=str(col))
    if len({user_col, item_col, value_col} - {None}) != 2 + (value_col is not None):
        raise DataError("the user, item and value columns must be different", source=name)
    t, u, i = quote_ident(table), quote_ident(user_col), quote_ident(item_col)
    select = f"SELECT {u}, {i}" + (f", {quote_ident(value_col)}" if value_col else "")
    sql = f"{select} FROM {t}"
    params: list = []
    if max_users is not None:
        sql += f" WHERE {u} IN (SELECT DISTINCT {u} FROM {t} WHERE {u} IS NOT NULL " \
               f"ORDER BY {u} LIMIT ?)"
        params.append(int(max_users))
    if max_rows is not None:
        sql += " LIMIT ?"
        params.append(int(max_rows))
    cur = conn.execute(sql, params)
    ufac, ifac = _Factorizer(), _Factorizer()
    ucodes, icodes, vals = [], [], []
    row0 = 0
    while True:
        rows = cur.fetchmany(FETCH_ROWS)
        if not rows:
            break
        cols_t = list(zip(*rows))
        ids = [_checked_ids(cols_t[k], row0, role, colname, name)
               for role, k, colname in (("user", 0, user_col), ("item", 1, item_col))]
        ucodes.append(ufac.add(ids[0]))
        icodes.append(ifac.add(ids[1]))
        if value_col:
            vals.append(_values(cols_t[2], row0, name, value_col, allow_negative))
        row0 += len(rows)
        if progress is not None:
            progress(0.5, f"read {row0:,} rows")
    if row0 == 0:
        raise DataError(f"table {table!r} has no rows" + (" for the selected users"
                                                         if max_users else ""),
                        source=name, field=table)
    values = np.concatenate(vals) if value_col else np.ones(row0, dtype=np.float32)
    data = Interactions.from_codes(np.concatenate(ucodes), np.concatenate(icodes), values,
                                   ufac.ids(name, user_col), ifac.ids(name, item_col),
                                   duplicates=duplicates,
                                   source=f"{name}:{table}", implicit=not value_col)
    data.extra.update(format="sqlite", table=table, columns=[user_col, item_col]
                      + ([value_col] if value_col else []), from_cache=False)
    return data


def _checked_ids(values, row0: int, role: str, field: str, name: str) -> np.ndarray:
    """One batch of ids as an object array, refusing what the text loaders refuse."""
    arr = _object_array(values)
    for k, x in enumerate(arr):
        if isinstance(x, str):
            if x and "\x00" not in x and len(x) <= MAX_ID_CHARS:
                continue
            why = ("an empty" if not x else "a NUL byte in the" if "\x00" in x
                   else f"longer than {MAX_ID_CHARS:,} characters: the")
        elif isinstance(x, int) or isinstance(x, float) and np.isfinite(x):
            continue
        elif x is None:
            raise DataError(f"row {row0 + k + 1}: NULL {role} id; expected a value",
                            source=name, field=field)
        else:
            why = "a BLOB (bytes)" if isinstance(x, (bytes, memoryview)) else \
                f"a {type(x).__name__}"
        raise DataError(f"row {row0 + k + 1}: {why} {role} id; expected non-empty text or an "
                        "integer", source=name, field=field)
    return arr


def _object_array(values) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr


def _values(col, row0: int, name: str, field: str, allow_negative: bool) -> np.ndarray:
    arr = _object_array(col)
    out = np.empty(len(arr), dtype=np.float64)
    for k, x in enumerate(arr):
        if isinstance(x, (int, float)) and not isinstance(x, bool):
            out[k] = x
        else:
            shown = "NULL" if x is None else repr(x)[:40]
            raise DataError(f"row {row0 + k + 1}: value {shown} is not a number", source=name,
                            field=field)
    bad = ~np.isfinite(out) | (np.abs(out) > F32_MAX)
    if not allow_negative:
        bad |= out < 0
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise DataError(f"row {row0 + k + 1}: value {float(out[k])!r} is not a finite number"
                        f"{'' if allow_negative else ' >= 0'} within float32", source=name,
                        field=field)
    return out.astype(np.float32)


class _Factorizer:
    """Incremental factorisation: codes per batch, one Python object per distinct id only."""

    def __init__(self) -> None:
        self.index: dict = {}
        self.order: list = []

    def add(self, arr: np.ndarray) -> np.ndarray:
        codes, uniques = pd.factorize(arr, sort=False)
        mapped = np.empty(len(uniques), dtype=np.int32)
        for k, x in enumerate(uniques):
            c = self.index.get(x)
            if c is None:
                c = len(self.order)
                self.index[x] = c
                self.order.append(x)
            mapped[k] = c
        return mapped[codes]

    def ids(self, name: str, field: str) -> np.ndarray:
        if self.order and all(isinstance(x, int) and not isinstance(x, bool) for x in self.order):
            return np.asarray(self.order, dtype=np.int64)
        texts = [x if isinstance(x, str) else str(x) for x in self.order]
        if len(set(texts)) != len(texts):
            raise DataError("the column mixes text and numbers that read the same (e.g. '1' and "
                            "1); expected one kind of id", source=name, field=field)
        out = np.empty(len(texts), dtype=object)
        out[:] = texts
        return out

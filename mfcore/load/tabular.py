"""Generic CSV / TSV / Parquet interactions with user, item and optional value columns.

Columns are chosen by name (``'userId'``) or 0-based position (``0``); by default the first three
columns are user, item and value (the first two and no value when the file has only two columns:
implicit data, values 1). ``value_col=False`` reads no value column even when there is one.

A time column is kept as :attr:`Interactions.times` (for the time split): ``time_col`` names it;
by default it is a column named ``timestamp`` or ``time``, or, in a file without a header whose
four columns are user, item, value and a whole number (MovieLens' ``u.data`` and
``ratings.dat``), the fourth. Columns read for nothing are listed in ``extra['unused_columns']``.

CSV/TSV
-------
Read by the same engine as the triplets (:mod:`mfcore.load._delim`): pyarrow, dictionary-encoded
ids, no Python object per row, ``max_rows``, gzip with a decompression cap, errors naming the line
and column. Fields may be quoted with ``"`` (a quoted field cannot span lines). The delimiter is
``','`` for CSV, tab for TSV, or sniffed among ``, TAB ; |`` (and MovieLens' ``::``) when no
delimiter is given and the file is not TSV.

Header (``header='auto'``): the first line is a header when it holds one of the column names
asked for, or when a column is numeric below it but not in it, or when every field is a usual
column word (user, item, song, track, pid, rating, count...). Otherwise the file has no header and
columns can only be chosen by position. ``header=True``/``False`` decides explicitly.

Parquet
-------
Read by :mod:`mfcore.load.parquet`: batch by batch, only the needed columns; ids may be strings
or integers. Errors name the row (1-based) and column.

Values must be finite and fit float32; negative values are refused unless
``allow_negative=True`` (ratings on a signed scale). Ids that are all integers come back as
``int64``; item ids are sorted.
"""
from __future__ import annotations

import csv

import numpy as np

from ..errors import DataError
from ..interactions import Interactions
from . import cache as _cache
from ._delim import read_delimited
from ._rows import SEP_NAMES, DelimSpec, check_row, first_lines, is_number, split_row
from ._io import DEFAULT_MAX_DECOMPRESSED_BYTES, Source, SourceInfo, content_head, resolve
from .parquet import read_parquet

HEADER_WORDS = {
    "user", "users", "user_id", "userid", "uid", "item", "items", "item_id", "itemid", "iid",
    "song", "song_id", "songid", "track", "track_id", "trackid", "track_uri", "tid", "pid",
    "playlist", "playlist_id", "movie", "movie_id", "movieid", "count", "counts", "play_count",
    "playcount", "plays", "rating", "ratings", "value", "score", "weight", "timestamp", "time",
    "artist", "title", "id",
}
TIME_WORDS = ("timestamp", "time")


def load_table(source: Source, *, format: str | None = None, user_col=None, item_col=None,
               value_col=None, time_col=None, header: bool | str = "auto",
               delimiter: str | None = None,
               max_rows: int | None = None, duplicates: str = "sum", allow_negative: bool = False,
               cache_dir=None, use_cache: bool | str = "auto",
               max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
               progress=None) -> Interactions:
    """Load user–item(-value) rows from a CSV, TSV or Parquet file.

    Parameters
    ----------
    source : path or (name, bytes)
    format : {'csv', 'tsv', 'parquet'}, optional
        Detected from the name and content when omitted.
    user_col, item_col : str or int, optional
        Column name or 0-based position; default 0 and 1.
    value_col : str, int, None or False
        Default: column 2 when the file has three or more columns, else none (implicit).
        ``False``: no value column (implicit data, values 1).
    time_col : str, int, None or False
        The column of each row's time (numbers, e.g. Unix seconds), kept as
        :attr:`Interactions.times`. Default: found as the module docstring says; ``False``:
        none. CSV/TSV only.
    header : {'auto', True, False}
        Whether the first CSV/TSV line names the columns (see the module docstring).
    delimiter : str, optional
        One character; overrides the format's.
    max_rows : int, optional
        Read only the first ``max_rows`` data rows.
    duplicates : {'sum', 'max', 'last', 'first', 'error'}
    allow_negative : bool
        Accept negative values (signed ratings).
    cache_dir, use_cache, max_decompressed_bytes, progress
        As in :func:`mfcore.load.triplets.load_triplets`.

    Raises
    ------
    DataError
        A missing column (the message lists the columns present), or malformed rows (naming the
        line or row and the column).
    """
    info = resolve(source)
    if info.is_dir:
        raise DataError("is a folder; expected a CSV, TSV or Parquet file", source=info.name)
    if format is None:
        from . import detect_format
        format = detect_format(info)
        if format == "triplets":
            format = "tsv"
    if format not in ("csv", "tsv", "parquet"):
        raise DataError(f"load_table reads csv, tsv or parquet, not {format!r}", source=info.name)
    if max_rows is not None and (int(max_rows) != max_rows or max_rows < 1):
        raise DataError(f"max_rows must be a positive integer, got {max_rows!r}", source=info.name)
    options = {"format": format, "user_col": user_col, "item_col": item_col,
               "value_col": value_col, "time_col": time_col, "header": header,
               "delimiter": delimiter,
               "max_rows": max_rows, "duplicates": duplicates, "allow_negative": allow_negative}

    def build() -> Interactions:
        if format == "parquet":
            if time_col not in (None, False):
                raise DataError("a time column is read from CSV/TSV files only",
                                source=info.name)
            cols = read_parquet(info, lambda names: resolve_columns(
                info.name, len(names), names, user_col, item_col, value_col), max_rows,
                allow_negative, progress)
        else:
            cols = _load_delimited(info, format, (user_col, item_col, value_col, time_col),
                                   header, delimiter, max_rows, allow_negative,
                                   max_decompressed_bytes, progress)
        users, items, values, user_ids, item_ids, extra = cols
        times = extra.pop("times", None)
        implicit = values is None
        if implicit:
            values = np.ones(len(users), dtype=np.float32)
        data = Interactions.from_codes(users, items, values, user_ids, item_ids,
                                       duplicates=duplicates, source=info.name, implicit=implicit,
                                       times=times)
        data.extra.update(format=format, **extra)
        return data

    return _cache.cached_load(info, "table", options, build, cache_dir=cache_dir,
                              use_cache=use_cache, progress=progress)


# ---- CSV / TSV ----------------------------------------------------------------------------------
def _sniff_delimiter(lines: list[str]) -> str:
    best, best_score = ",", -1
    for d in (",", "\t", ";", "|"):
        counts = [len(next(csv.reader([t], delimiter=d))) for _, t in lines[:10]]
        if counts and counts[0] > 1 and len(set(counts)) == 1 and counts[0] > best_score:
            best, best_score = d, counts[0]
    return best


def _looks_like_header(first: list[str], second: list[str] | None, wanted: list) -> bool:
    if any(isinstance(w, str) and w in first for w in wanted):
        return True
    if second is not None and len(second) == len(first):
        if any(not is_number(a) and is_number(b) for a, b in zip(first, second)):
            return True
    return all(f.strip().lower() in HEADER_WORDS for f in first)


def _load_delimited(info: SourceInfo, format, columns, header, delimiter, max_rows,
                    allow_negative, max_decompressed_bytes, progress):
    user_col, item_col, value_col, time_col = columns
    head = content_head(info, max_decompressed_bytes=max_decompressed_bytes)
    lines = first_lines(head, info.name)
    if not lines:
        raise DataError("the file is empty; expected delimited rows", source=info.name)
    double = delimiter is None and format != "tsv" and _double_colon(lines)
    if double:
        delimiter = ":"
    elif delimiter is None:
        delimiter = "\t" if format == "tsv" else _sniff_delimiter(lines)
    if len(delimiter) != 1:
        raise DataError(f"the delimiter must be one character, got {delimiter!r}",
                        source=info.name)
    probe = DelimSpec(delimiter * (2 if double else 1), 0, 0, 0, None, quoting=not double)
    lineno, text = lines[0]
    first = _fields(text, probe, info.name, lineno)
    second = (_fields(lines[1][1], probe, info.name, lines[1][0]) if len(lines) > 1 else None)
    wanted = [user_col, item_col, value_col, time_col]
    if header == "auto":
        has_header = _looks_like_header(first, second, wanted)
    elif header in (True, False):
        has_header = header
    else:
        raise DataError(f"header must be 'auto', True or False, got {header!r}", source=info.name)
    n_cols = len(first)
    if n_cols < 2 and "::" in text:
        raise DataError(f"no {SEP_NAMES.get(delimiter, repr(delimiter))} between the fields: "
                        "they are separated by '::' as in MovieLens .dat files (detect the "
                        "format or choose CSV, which reads '::' too)", source=info.name,
                        line=lineno)
    names = [f.strip() for f in first] if has_header else []
    u, i, v = resolve_columns(info.name, n_cols, names, user_col, item_col, value_col,
                              has_header)
    t = _time_column(info.name, n_cols, names, (u, i, v), time_col,
                     [x for _, x in lines[int(has_header):][:5]], probe)
    step = 2 if double else 1   # column k is field 2k when the separator is '::'
    spec = DelimSpec(delimiter, step * n_cols - (step - 1), step * u, step * i,
                     None if v is None else step * v, skip_rows=lineno if has_header else 0,
                     quoting=not double, value_what="value", allow_negative=allow_negative,
                     time=None if t is None else step * t, double=double,
                     names=[n for c in names for n in ([c, ""] if double else [c])],
                     header=tuple(first) if has_header else ())
    if not has_header:
        err = check_row(text, spec, info.name, lineno)
        if err is not None:
            raise err
    elif len(lines) == 1:
        raise DataError("only a header line, no data rows", source=info.name, line=lineno)
    parsed = read_delimited(info, spec, max_rows=max_rows, progress=progress, head=head,
                            max_decompressed_bytes=max_decompressed_bytes)
    used = [k for k in (u, i, v, t) if k is not None]
    label = (lambda k: names[k]) if names else (lambda k: f"column {k + 1}")
    extra = {"header": names or None, "delimiter": "::" if double else delimiter,
             "truncated": parsed.truncated, "columns": [label(k) for k in (u, i, v) if k is not None],
             "time_column": None if t is None else label(t),
             "unused_columns": [label(k) for k in range(n_cols) if k not in used],
             "times": parsed.times}
    return parsed.users, parsed.items, parsed.values, parsed.user_ids, parsed.item_ids, extra


def _double_colon(lines: list[tuple[int, str]]) -> bool:
    """MovieLens' ``::``-separated layout (``1::1193::5::978300760``): every sniffed line has
    ``::`` and none of the usual delimiters."""
    return all("::" in t and not any(d in t for d in ",\t;|") for _, t in lines[:10])


def _fields(text: str, probe: DelimSpec, name: str, lineno: int) -> list[str]:
    if len(probe.delimiter) == 2:
        return text.split(probe.delimiter)
    return split_row(text, probe, name, lineno)


def _time_column(name: str, n_cols: int, names: list[str], taken: tuple, time_col,
                 rows: list[str], probe: DelimSpec) -> int | None:
    """The position of the time column (see the module docstring), or None."""
    if time_col is False:
        return None
    if time_col is not None:
        t = column_position(name, n_cols, names, time_col, "time")
        if t in taken:
            raise DataError("the time column must differ from the user, item and value columns",
                            source=name)
        return t
    if names:
        found = [k for k, n in enumerate(names) if n.strip().lower() in TIME_WORDS
                 and k not in taken]
        return found[0] if found else None
    if n_cols == 4 and taken == (0, 1, 2) and rows:
        fourth = [_fields(r, probe, name, 0)[-1].strip() for r in rows]
        if all(f.isdigit() for f in fourth):
            return 3
    return None


def column_position(name: str, n_cols: int, names: list[str], col, role: str) -> int:
    """The 0-based position of column ``col`` (a name, case-insensitive when unambiguous, or a
    position) in a file with ``n_cols`` columns named ``names`` (empty: no header)."""
    present = ", ".join(repr(n) for n in names) if names else \
        f"{n_cols} unnamed columns (no header row): use positions 0..{n_cols - 1}"
    if isinstance(col, (bool, np.bool_)):
        raise DataError(f"{role} column must be a name or a position, got {col!r}",
                        source=name)
    if isinstance(col, (int, np.integer)):
        k = int(col)
        if not 0 <= k < n_cols:
            raise DataError(f"{role} column position {k} is out of range; the file has "
                            f"{n_cols} columns: {present}", source=name, field=str(col))
        return k
    if isinstance(col, str):
        if col in names:
            return names.index(col)
        lowered = [n.lower() for n in names]
        if col.lower() in lowered and lowered.count(col.lower()) == 1:
            return lowered.index(col.lower())
        raise DataError(f"no {role} column named {col!r}; columns present: {present}",
                        source=name, field=col)
    raise DataError(f"{role} column must be a name or a position, got {col!r}", source=name)


def resolve_columns(name: str, n_cols: int, names: list[str], user_col, item_col, value_col,
                    has_names: bool = True) -> tuple[int, int, int | None]:
    """0-based positions of the user, item and value columns (value None: no value column)."""
    if n_cols < 2:
        raise DataError(f"expected at least 2 columns (user, item), found {n_cols}"
                        + (": " + ", ".join(repr(n) for n in names) if names else ""),
                        source=name, line=1)
    u = column_position(name, n_cols, names, 0 if user_col is None else user_col, "user")
    i = column_position(name, n_cols, names, 1 if item_col is None else item_col, "item")
    if value_col is False:
        v = None
    elif value_col is None:
        v = 2 if n_cols >= 3 else None
    else:
        v = column_position(name, n_cols, names, value_col, "value")
    if u == i or (v is not None and v in (u, i)):
        raise DataError("the user, item and value columns must be different columns", source=name)
    return u, i, v


__all__ = ["load_table", "resolve_columns", "column_position"]

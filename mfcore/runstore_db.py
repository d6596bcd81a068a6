"""The run store's SQLite file: schema, location, connections, errors (:class:`RunDatabase`).

One row per run in ``runs`` (hyperparameters, dataset fingerprint and sizes, final metrics,
status, duration, source, sweep id, model file path and what became of it) and one row per finished epoch in
``epochs``; sweeps have a row in ``sweeps``. The file is created on first use; the schema is
identified by ``PRAGMA application_id`` (:data:`APPLICATION_ID`) and versioned by
``PRAGMA user_version`` (:data:`SCHEMA_VERSION`).

Where the database lives, first match wins: the ``path`` argument, the environment variable
``MFX_HISTORY_DB``, ``~/.local/share/mfcore/runs.sqlite``.

Concurrency: several threads, Streamlit sessions and processes may write at once. Every operation
opens its own connection (never shared between threads), the database is in WAL mode, connections
wait up to :data:`BUSY_TIMEOUT_S` for a lock, and writes are short ``BEGIN IMMEDIATE``
transactions, so concurrent writers queue instead of failing or losing rows.

A file that is not SQLite, or is SQLite with another schema, raises :class:`HistoryError`
(an :class:`~mfcore.errors.MFError`) naming the file; nothing is written to it.
"""
from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import Iterator

from .errors import MFError

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "BUSY_TIMEOUT_S", "ENV_VAR", "HistoryError",
           "RunDatabase", "default_history_path"]

#: ``PRAGMA application_id`` of an mfcore run history ("MFXH").
APPLICATION_ID = 0x4D465848
#: ``PRAGMA user_version`` of the schema this module writes (2 added the per-epoch ranking
#: columns, 3 who made each run and its tags, 4 what became of its model file; older files are
#: upgraded in place, see :data:`_MIGRATIONS`).
SCHEMA_VERSION = 4
#: Seconds a connection waits for another writer's lock before giving up.
BUSY_TIMEOUT_S = 30.0
ENV_VAR = "MFX_HISTORY_DB"

_SCHEMA = """
CREATE TABLE runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    created        REAL NOT NULL,          -- unix time the run was recorded
    source         TEXT NOT NULL,          -- 'cli' | 'app' | 'sweep'
    sweep_id       TEXT,
    status         TEXT NOT NULL,          -- fitted | early_stopped | diverged | cancelled
    dataset        TEXT,                   -- the data's source (file name, 'synthetic:msd', ...)
    fingerprint    TEXT,                   -- Interactions.fingerprint of the full dataset
    n_users        INTEGER,
    n_items        INTEGER,
    n_interactions INTEGER,
    n_train        INTEGER,
    n_val          INTEGER,
    split          TEXT,
    factors        INTEGER,
    epochs         INTEGER,                -- requested
    lr             REAL,
    reg            REAL,
    epochs_run     INTEGER,                -- finished epochs in the history
    best_epoch     INTEGER,
    train_rmse     REAL,
    val_rmse       REAL,
    val_mae        REAL,
    k              INTEGER,
    precision_at_k REAL,
    recall_at_k    REAL,
    ndcg_at_k      REAL,
    fit_seconds    REAL,
    model_path     TEXT,
    params_json    TEXT NOT NULL,          -- every hyperparameter
    data_json      TEXT NOT NULL,          -- dataset summary
    metrics_json   TEXT NOT NULL,          -- everything else the run reported
    note           TEXT,
    owner          TEXT,                   -- 'user:<login>' (command line) | 'session:<hash>'
    tags           TEXT,                   -- comma-separated
    model_state    TEXT                    -- NULL | 'pinned' (kept for good) | 'pruned' (deleted
                                           -- by the keep-models policy, model_path cleared)
);
CREATE INDEX runs_sweep ON runs(sweep_id);
CREATE INDEX runs_created ON runs(created);
CREATE TABLE epochs (
    run_id        INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    epoch         INTEGER NOT NULL,
    loss          REAL,
    train_rmse    REAL,
    val_rmse      REAL,
    seconds       REAL,
    ratings_per_s REAL,
    precision     REAL,                    -- at the run's eval_k, over its validation sample
    recall        REAL,
    ndcg          REAL,
    eval_seconds  REAL,
    PRIMARY KEY (run_id, epoch)
) WITHOUT ROWID;
CREATE TABLE sweeps (
    id            TEXT PRIMARY KEY,
    created       REAL NOT NULL,
    finished      REAL,
    status        TEXT NOT NULL,           -- running | done | cancelled | failed
    kind          TEXT,                    -- grid | random
    metric        TEXT,
    n_planned     INTEGER,
    config_json   TEXT NOT NULL,           -- search space, fixed params, data, split
    summary_json  TEXT                     -- best, importance, wall seconds (when finished)
);
"""
_TABLES = {"runs", "epochs", "sweeps"}
#: Statements that bring a file of version N - 1 to version N.
_MIGRATIONS = {2: [f"ALTER TABLE epochs ADD COLUMN {c} REAL"
                   for c in ("precision", "recall", "ndcg", "eval_seconds")],
               3: [f"ALTER TABLE runs ADD COLUMN {c} TEXT" for c in ("owner", "tags")],
               4: ["ALTER TABLE runs ADD COLUMN model_state TEXT"]}


class HistoryError(MFError):
    """The run history database cannot be used (damaged, foreign, newer, locked, missing run)."""


def default_history_path() -> Path:
    """``$MFX_HISTORY_DB`` if set, else ``~/.local/share/mfcore/runs.sqlite``."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "mfcore" / "runs.sqlite"


class RunDatabase:
    """One run-store SQLite file: created and checked on first use, one connection per call.

    Parameters
    ----------
    path : str or Path, optional
        The database file; default :func:`default_history_path`. Created (with its folder) on
        first use.

    Notes
    -----
    The object holds no connection and is safe to share between threads and sessions; each
    method opens, uses and closes its own.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_history_path()
        self._ready = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def _fail(self, what: str, exc: BaseException | None = None) -> HistoryError:
        detail = f" ({exc})" if exc is not None else ""
        return HistoryError(f"run history {self.path}: {what}{detail}")

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A fresh connection, schema checked; any SQLite failure becomes a HistoryError."""
        if not self._ready:
            self.ensure()
        conn = self._open()
        try:
            yield conn
        except sqlite3.Error as exc:
            raise self._translate(exc) from None
        finally:
            conn.close()

    def _open(self) -> sqlite3.Connection:
        if self.path.is_dir():
            raise self._fail("is a folder, not a database file")
        if self.path.exists() and not self.path.is_file():  # a FIFO would block the open
            raise self._fail("is not a regular file (a FIFO, a device or a socket?)")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._fail("cannot create its folder", exc) from None
        try:
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        except sqlite3.Error as exc:
            raise self._translate(exc) from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            # WAL + NORMAL: never corrupt; only a power cut may lose the very last runs.
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            conn.close()
            raise self._translate(exc) from None
        return conn

    def _translate(self, exc: sqlite3.Error) -> HistoryError:
        msg = str(exc).lower()
        if "not a database" in msg or "malformed" in msg or "file is encrypted" in msg:
            return self._fail("is not a usable SQLite database (damaged, or not a run history)",
                              exc)
        if "locked" in msg or "busy" in msg:
            return self._fail(f"stayed locked by another writer for {BUSY_TIMEOUT_S:.0f} s", exc)
        if "readonly" in msg or "unable to open" in msg:
            return self._fail("cannot be opened for writing", exc)
        return self._fail("SQLite error", exc)

    def ensure(self) -> None:
        """Create the database if needed and check that it is an mfcore run history.

        Raises
        ------
        HistoryError
            The file is not SQLite, is SQLite with other tables, or has a newer schema.
        """
        conn = self._open()
        try:
            try:
                app_id = conn.execute("PRAGMA application_id").fetchone()[0]
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if app_id == APPLICATION_ID and version == SCHEMA_VERSION:
                    self._ready = True
                    return
                # WAL must be switched on outside a transaction; it persists in the file.
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("BEGIN IMMEDIATE")
                try:
                    self._check_or_create(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                raise self._translate(exc) from None
        finally:
            conn.close()
        self._ready = True

    def check(self) -> None:
        """Make sure a run can be recorded now, before any work: :meth:`ensure`, then a
        ``PRAGMA quick_check`` (damaged pages) and a write rolled back (a read-only file or
        folder).

        Raises
        ------
        HistoryError
            As :meth:`ensure`, or the file is damaged or cannot be written.
        """
        self.ensure()
        conn = self._open()
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
            if rows != [("ok",)]:
                raise self._fail(f"is damaged (quick_check: {rows[0][0]}"
                                 f"{f' and {len(rows) - 1} more' if len(rows) > 1 else ''})")
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            finally:
                conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            raise self._translate(exc) from None
        finally:
            conn.close()

    def _check_or_create(self, conn: sqlite3.Connection) -> None:
        # Re-read inside the write lock: another process may have created it meanwhile.
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
            "AND name NOT LIKE 'sqlite_%'")}
        if app_id == APPLICATION_ID:
            if version > SCHEMA_VERSION:
                raise self._fail(f"was written by a newer mfcore (schema version {version}, "
                                 f"this one reads {SCHEMA_VERSION}); upgrade mfcore or use "
                                 f"another file")
            if _TABLES <= tables and 1 <= version:
                for v in range(version + 1, SCHEMA_VERSION + 1):
                    for stmt in _MIGRATIONS[v]:
                        conn.execute(stmt)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                return
            raise self._fail(f"has an unknown run-history schema version {version}")
        if app_id == 0 and not tables and version == 0:
            # One statement at a time: executescript() would commit the open transaction.
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            return
        shown = ", ".join(sorted(tables)[:5]) or "none"
        raise self._fail(f"is an SQLite database but not an mfcore run history (tables: "
                         f"{shown}; application_id {app_id}, user_version {version}); "
                         f"choose another file")

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction (``BEGIN IMMEDIATE`` takes the write lock up front)."""
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")


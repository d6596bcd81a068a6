"""Run history: every training run (CLI, dashboard, sweep) in a local SQLite database.

One row per run in ``runs`` (hyperparameters, dataset fingerprint and sizes, final metrics,
status, duration, source, sweep id, model file path) and one row per finished epoch in
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
import io
import json
import math
import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd

from .errors import MFError

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "SOURCES", "HistoryError", "RunHistory",
           "default_history_path", "result_from_model"]

#: ``PRAGMA application_id`` of an mfcore run history ("MFXH").
APPLICATION_ID = 0x4D465848
#: ``PRAGMA user_version`` of the schema this module writes.
SCHEMA_VERSION = 1
#: Where a run came from.
SOURCES = ("cli", "app", "sweep")
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
    note           TEXT
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

#: Columns of :meth:`RunHistory.list_runs`, in order.
LIST_COLUMNS = ["id", "created", "source", "sweep_id", "status", "dataset", "fingerprint",
                "n_users", "n_items", "n_interactions", "n_train", "n_val", "split", "factors",
                "epochs", "lr", "reg", "epochs_run", "best_epoch", "train_rmse", "val_rmse",
                "val_mae", "k", "precision_at_k", "recall_at_k", "ndcg_at_k", "fit_seconds",
                "model_path", "note"]
_EPOCH_FIELDS = ("epoch", "loss", "train_rmse", "val_rmse", "seconds", "ratings_per_s")
_FLOAT_COLUMNS = ("lr", "reg", "train_rmse", "val_rmse", "val_mae", "precision_at_k",
                  "recall_at_k", "ndcg_at_k", "fit_seconds")


class HistoryError(MFError):
    """The run history database cannot be used (damaged, foreign, newer, locked, missing run)."""


def default_history_path() -> Path:
    """``$MFX_HISTORY_DB`` if set, else ``~/.local/share/mfcore/runs.sqlite``."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".local" / "share" / "mfcore" / "runs.sqlite"


class RunHistory:
    """The run history stored in one SQLite file.

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
        return f"RunHistory({str(self.path)!r})"

    # ---- connection and schema -----------------------------------------------------------
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
            if version == SCHEMA_VERSION and _TABLES <= tables:
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

    # ---- recording -----------------------------------------------------------------------
    def record_result(self, result: dict, *, source: str, model_path=None,
                      sweep_id: str | None = None, note: str | None = None) -> int:
        """Record one run described by the CLI's ``train`` JSON dict; returns its run id.

        Parameters
        ----------
        result : dict
            Keys used: ``status``, ``history`` (list of EpochStats dicts), ``params``, ``data``
            (the dataset summary; ``fingerprint`` and ``source`` when present), ``n_users``,
            ``n_items``, ``n_train``, ``n_val``, ``split``, ``train_rmse``, ``val_rmse``,
            ``val_mae``, ``k``, ``precision_at_k``, ``recall_at_k``, ``ndcg_at_k``,
            ``fit_seconds``, ``best_epoch``. Every other scalar key is kept in the metrics JSON.
        source : {'cli', 'app', 'sweep'}
        model_path : str or Path, optional
            Where the fitted model was saved (stored as an absolute path).
        sweep_id : str, optional
        note : str, optional
            A free-text label.

        Returns
        -------
        int
            The new run's id.
        """
        if source not in SOURCES:
            raise HistoryError(f"source must be one of {SOURCES}, got {source!r}")
        params = _jsonable(dict(result.get("params") or {}))
        data = _jsonable(dict(result.get("data") or {}))
        history = [_epoch_dict(h) for h in (result.get("history") or [])]
        fingerprint = (data.get("fingerprint") or result.get("fingerprint")
                       or result.get("data_fingerprint"))
        metrics = {k: v for k, v in _jsonable(result).items()
                   if k not in ("params", "data", "history", "status")}
        best_epoch = result.get("best_epoch")
        if best_epoch is None and history:
            vals = [(h["val_rmse"], h["epoch"]) for h in history if _finite(h["val_rmse"])]
            best_epoch = min(vals)[1] if vals else None
        row = {
            "created": time.time(), "source": source, "sweep_id": sweep_id,
            "status": str(result.get("status") or "fitted"),
            "dataset": data.get("source") or result.get("dataset"),
            "fingerprint": fingerprint,
            "n_users": _int(result.get("n_users", data.get("n_users"))),
            "n_items": _int(result.get("n_items", data.get("n_items"))),
            "n_interactions": _int(data.get("n_interactions")),
            "n_train": _int(result.get("n_train")), "n_val": _int(result.get("n_val")),
            "split": result.get("split"),
            "factors": _int(params.get("factors")), "epochs": _int(params.get("epochs")),
            "lr": _float(params.get("lr")), "reg": _float(params.get("reg")),
            "epochs_run": len(history), "best_epoch": _int(best_epoch),
            "train_rmse": _float(result.get("train_rmse")),
            "val_rmse": _float(result.get("val_rmse")), "val_mae": _float(result.get("val_mae")),
            "k": _int(result.get("k")),
            "precision_at_k": _float(result.get("precision_at_k")),
            "recall_at_k": _float(result.get("recall_at_k")),
            "ndcg_at_k": _float(result.get("ndcg_at_k")),
            "fit_seconds": _float(result.get("fit_seconds")),
            "model_path": str(Path(model_path).resolve()) if model_path else None,
            "params_json": json.dumps(params, allow_nan=False),
            "data_json": json.dumps(data, allow_nan=False),
            "metrics_json": json.dumps(metrics, allow_nan=False),
            "note": note,
        }
        cols = ", ".join(row)
        marks = ", ".join("?" * len(row))
        with self._write() as conn:
            run_id = conn.execute(f"INSERT INTO runs ({cols}) VALUES ({marks})",
                                  list(row.values())).lastrowid
            conn.executemany(
                "INSERT INTO epochs (run_id, epoch, loss, train_rmse, val_rmse, seconds, "
                "ratings_per_s) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [(run_id, *(h[f] for f in _EPOCH_FIELDS)) for h in history])
        return int(run_id)

    @property
    def models_dir(self) -> Path:
        """Where :meth:`record_model` saves model files: ``models/`` beside the database."""
        return self.path.parent / "models"

    def record_model(self, model, data, *, split_kind: str | None, metrics: dict | None = None,
                     source: str = "app", model_path=None, sweep_id: str | None = None,
                     note: str | None = None, save: bool = False) -> int:
        """Record a fitted :class:`~mfcore.train.MFModel` (the dashboard's path); its run id.

        Parameters
        ----------
        model : MFModel
            Fitted (any final status); its ``params``, ``history_``, ``status_`` and
            ``best_epoch_`` are stored.
        data : Interactions
            The full dataset the split came from (summary and fingerprint are stored).
        split_kind : str or None
        metrics : dict, optional
            ``train_rmse``, ``val_rmse``, ``val_mae``, ``n_train``, ``n_val``, ``fit_seconds``,
            ``k``, ``precision_at_k``, ... (see :meth:`record_result`). Missing ``train_rmse`` /
            ``val_rmse`` fall back to the last epoch's; ``fit_seconds`` to the sum of the epochs'.
        source, model_path, sweep_id, note
            See :meth:`record_result`.
        save : bool
            When no ``model_path`` is given, save the model under :attr:`models_dir` (with
            ``data``'s ids) so the run can be loaded again later.
        """
        result = result_from_model(model, data, split_kind=split_kind, metrics=metrics)
        if save and model_path is None and getattr(model, "user_factors_", None) is not None:
            from .modelio import save_model
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(4).hex()}.npz"
            try:
                self.models_dir.mkdir(parents=True, exist_ok=True)
                model_path = save_model(model, self.models_dir / name, data=data)
            except OSError as exc:
                raise self._fail("cannot save the model file beside it", exc) from None
        return self.record_result(result, source=source, model_path=model_path,
                                  sweep_id=sweep_id, note=note)

    # ---- sweeps ----------------------------------------------------------------------------
    def start_sweep(self, sweep_id: str, *, kind: str, metric: str, n_planned: int,
                    config: dict) -> None:
        """Register a sweep (status 'running') before its first trial is recorded."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sweeps (id, created, status, kind, metric, n_planned, "
                "config_json) VALUES (?, ?, 'running', ?, ?, ?, ?)",
                (sweep_id, time.time(), kind, metric, int(n_planned),
                 json.dumps(_jsonable(config), allow_nan=False)))

    def finish_sweep(self, sweep_id: str, *, status: str, summary: dict) -> None:
        """Store a sweep's final status and summary (best, importance, wall seconds)."""
        with self._write() as conn:
            conn.execute("UPDATE sweeps SET finished = ?, status = ?, summary_json = ? "
                         "WHERE id = ?", (time.time(), status,
                                          json.dumps(_jsonable(summary), allow_nan=False),
                                          sweep_id))

    def list_sweeps(self) -> pd.DataFrame:
        """Sweeps, newest first, one row each.

        Columns: ``id``, ``created``, ``finished`` (pandas datetimes, UTC), ``status``, ``kind``,
        ``metric``, ``n_planned``, ``n_runs`` (trials still in the history), ``best_val_rmse``
        (lowest validation RMSE of its fitted or early-stopped trials, NaN when none) and
        ``dataset`` (the dashboard's dataset label, else the data's source; None when unknown).
        """
        with self._connect() as conn:
            frame = pd.read_sql_query(
                "SELECT s.id, s.created, s.finished, s.status, s.kind, s.metric, s.n_planned, "
                "(SELECT COUNT(*) FROM runs r WHERE r.sweep_id = s.id) AS n_runs, "
                "(SELECT MIN(r.val_rmse) FROM runs r WHERE r.sweep_id = s.id "
                " AND r.status IN ('fitted', 'early_stopped')) AS best_val_rmse, "
                "s.config_json FROM sweeps s ORDER BY s.created DESC", conn)
        for c in ("created", "finished"):
            frame[c] = pd.to_datetime(pd.to_numeric(frame[c], errors="coerce"), unit="s")
        frame["best_val_rmse"] = pd.to_numeric(frame["best_val_rmse"],
                                               errors="coerce").astype("float64")
        frame["dataset"] = [_dataset_name(c) for c in frame.pop("config_json")]
        return frame

    def get_sweep(self, sweep_id: str) -> dict:
        """A sweep's row with ``config`` and ``summary`` parsed, and its ``runs`` (DataFrame).

        ``runs`` holds the sweep's runs in the order they were recorded (columns
        :data:`LIST_COLUMNS` plus ``metrics``, each run's parsed metrics dict, where a sweep
        trial keeps its 1-based ``trial`` number and any ``error``).

        Raises
        ------
        HistoryError
            No such sweep, or its stored JSON is damaged.
        """
        with self._connect() as conn:
            row = conn.execute("SELECT id, created, finished, status, kind, metric, n_planned, "
                               "config_json, summary_json FROM sweeps WHERE id = ?",
                               (sweep_id,)).fetchone()
            metrics = dict(conn.execute("SELECT id, metrics_json FROM runs WHERE sweep_id = ?",
                                        (sweep_id,)).fetchall())
        if row is None:
            raise HistoryError(f"run history {self.path}: no sweep {sweep_id!r}")
        keys = ("id", "created", "finished", "status", "kind", "metric", "n_planned")
        out = dict(zip(keys, row[:7]))
        try:
            out["config"] = json.loads(row[7])
            out["summary"] = json.loads(row[8]) if row[8] else {}
        except (TypeError, ValueError) as exc:
            raise self._fail(f"sweep {sweep_id!r} has damaged stored settings", exc) from None
        if not isinstance(out["config"], dict) or not isinstance(out["summary"], dict):
            raise self._fail(f"sweep {sweep_id!r} has damaged stored settings")
        runs = self.list_runs(sweep_id=sweep_id).sort_values("id").reset_index(drop=True)
        runs["metrics"] = [_json_dict(metrics.get(int(i))) for i in runs["id"]]
        out["runs"] = runs
        return out

    # ---- reading ---------------------------------------------------------------------------
    def list_runs(self, *, sweep_id: str | None = None, source: str | None = None,
                  limit: int | None = None) -> pd.DataFrame:
        """Runs, newest first, one row each (columns :data:`LIST_COLUMNS`).

        ``created`` is a pandas datetime (UTC); missing metrics are NaN.
        """
        where, args = [], []
        if sweep_id is not None:
            where.append("sweep_id = ?")
            args.append(sweep_id)
        if source is not None:
            where.append("source = ?")
            args.append(source)
        sql = f"SELECT {', '.join(LIST_COLUMNS)} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._connect() as conn:
            rows = conn.execute(sql, args).fetchall()
        frame = pd.DataFrame(rows, columns=LIST_COLUMNS)
        frame["created"] = pd.to_datetime(frame["created"].astype("float64"), unit="s")
        for c in _FLOAT_COLUMNS:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
        for c in ("id", "n_users", "n_items", "n_interactions", "n_train", "n_val", "factors",
                  "epochs", "epochs_run", "best_epoch", "k"):
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("Int64")
        return frame

    def get_run(self, run_id: int) -> dict:
        """One run: every column, ``params``, ``data``, ``metrics`` (dicts) and ``history``.

        ``history`` is a list of EpochStats dicts (``val_rmse`` NaN when there was no
        validation data).

        Raises
        ------
        HistoryError
            No run with this id.
        """
        with self._connect() as conn:
            cur = conn.execute("SELECT * FROM runs WHERE id = ?", (int(run_id),))
            row = cur.fetchone()
            names = [d[0] for d in cur.description]
            if row is None:
                raise HistoryError(f"run history {self.path}: no run {run_id}")
            epochs = conn.execute(
                "SELECT epoch, loss, train_rmse, val_rmse, seconds, ratings_per_s FROM epochs "
                "WHERE run_id = ? ORDER BY epoch", (int(run_id),)).fetchall()
        run = dict(zip(names, row))
        run["params"] = json.loads(run.pop("params_json"))
        run["data"] = json.loads(run.pop("data_json"))
        run["metrics"] = json.loads(run.pop("metrics_json"))
        run["history"] = [{f: (math.nan if v is None and f != "epoch" else v)
                           for f, v in zip(_EPOCH_FIELDS, e)} for e in epochs]
        return run

    def histories(self, run_ids: Iterable[int]) -> pd.DataFrame:
        """Per-epoch rows of several runs (long format: run_id + EpochStats columns)."""
        ids = [int(i) for i in run_ids]
        if not ids:
            return pd.DataFrame(columns=["run_id", *_EPOCH_FIELDS])
        marks = ", ".join("?" * len(ids))
        with self._connect() as conn:
            rows = conn.execute(
                f"SELECT run_id, {', '.join(_EPOCH_FIELDS)} FROM epochs WHERE run_id IN "
                f"({marks}) ORDER BY run_id, epoch", ids).fetchall()
        frame = pd.DataFrame(rows, columns=["run_id", *_EPOCH_FIELDS])
        for c in _EPOCH_FIELDS[1:]:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
        return frame

    def __len__(self) -> int:
        with self._connect() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    # ---- changing ----------------------------------------------------------------------------
    def delete_runs(self, run_ids: Iterable[int], *, delete_model_files: bool = False) -> int:
        """Delete runs (and their epochs); returns how many existed.

        Model files are kept unless ``delete_model_files`` (then missing files are ignored).
        """
        ids = [int(i) for i in run_ids]
        if not ids:
            return 0
        marks = ", ".join("?" * len(ids))
        with self._write() as conn:
            paths = [r[0] for r in conn.execute(
                f"SELECT model_path FROM runs WHERE id IN ({marks})", ids) if r[0]]
            n = conn.execute(f"DELETE FROM runs WHERE id IN ({marks})", ids).rowcount
            # Sweeps whose runs are all gone are dropped too.
            conn.execute("DELETE FROM sweeps WHERE status != 'running' AND id NOT IN "
                         "(SELECT DISTINCT sweep_id FROM runs WHERE sweep_id IS NOT NULL)")
        if delete_model_files:
            for p in paths:
                with contextlib.suppress(OSError):
                    Path(p).unlink()
        return int(n)

    def set_note(self, run_id: int, note: str | None) -> None:
        """Attach (or clear) a free-text label."""
        with self._write() as conn:
            conn.execute("UPDATE runs SET note = ? WHERE id = ?", (note, int(run_id)))

    # ---- export / models -------------------------------------------------------------------------
    def export_csv(self, path=None, *, run_ids: Iterable[int] | None = None) -> str:
        """The runs table as CSV text (all runs, or ``run_ids``); also written to ``path``."""
        frame = self.list_runs()
        if run_ids is not None:
            frame = frame[frame["id"].isin([int(i) for i in run_ids])]
        return _write_csv(runs_to_csv_frame(frame), path)

    def history_csv(self, run_id: int, path=None) -> str:
        """One run's per-epoch history as CSV text; also written to ``path``."""
        frame = pd.DataFrame(self.get_run(run_id)["history"], columns=list(_EPOCH_FIELDS))
        return _write_csv(frame, path)

    def load_model(self, run_id: int):
        """The run's saved model as an :class:`~mfcore.train.MFModel`, and the file's metadata.

        Raises
        ------
        HistoryError
            The run saved no model file, or the file is gone.
        ModelFileError
            The file is not a valid model.
        """
        from .modelio import load_model
        from .train import MFModel

        run = self.get_run(run_id)
        path = run.get("model_path")
        if not path:
            raise HistoryError(f"run {run_id} saved no model file (only its metrics and "
                               f"history were recorded)")
        if not Path(path).is_file():
            raise HistoryError(f"run {run_id}: its model file {path} no longer exists")
        loaded, meta = load_model(path)
        params = dict(run["params"])
        params.update(loaded.params or {})
        model = MFModel.from_arrays(
            params, user_factors=loaded.user_factors_, item_factors=loaded.item_factors_,
            user_bias=loaded.user_bias_, item_bias=loaded.item_bias_,
            global_mean=loaded.global_mean_,
            history=[_epoch_dict(h) for h in (loaded.history_ or run["history"])],
            status=loaded.status_ or run["status"],
            data_fingerprint=loaded.data_fingerprint_)
        meta = dict(meta)
        meta.setdefault("user_ids", loaded.user_ids)
        meta.setdefault("item_ids", loaded.item_ids)
        return model, meta


# ---- helpers --------------------------------------------------------------------------------
def result_from_model(model, data, *, split_kind: str | None, metrics: dict | None = None) -> dict:
    """The CLI-style result dict of a fitted model (what :meth:`RunHistory.record_result` takes)."""
    metrics = dict(metrics or {})
    history = [_epoch_dict(h) for h in model.history_]
    summary = dict(data.summary()) if data is not None else {}
    if data is not None:
        summary["fingerprint"] = data.fingerprint
    result = {
        "status": model.status_, "history": history, "params": dict(model.params),
        "data": summary, "split": split_kind,
        "n_users": getattr(model, "n_users_", summary.get("n_users")),
        "n_items": getattr(model, "n_items_", summary.get("n_items")),
        "best_epoch": getattr(model, "best_epoch_", None),
    }
    if history:
        # An early-stopped model holds its best epoch's parameters, not its last epoch's.
        kept = history[-1]
        if result["status"] == "early_stopped" and result["best_epoch"]:
            kept = next((h for h in history if h["epoch"] == result["best_epoch"]), kept)
        result["train_rmse"] = kept["train_rmse"]
        result["val_rmse"] = kept["val_rmse"] if _finite(kept["val_rmse"]) else None
        result["fit_seconds"] = float(sum(h["seconds"] for h in history))
    if getattr(model, "diverged_at_", None):
        result["diverged_at"] = {"epoch": model.diverged_at_[0], "step": model.diverged_at_[1]}
    result.update(metrics)
    return result


def runs_to_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs table ready for CSV (ISO timestamps)."""
    out = frame.copy()
    if "created" in out:
        out["created"] = pd.to_datetime(out["created"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def _write_csv(frame: pd.DataFrame, path) -> str:
    buf = io.StringIO()
    frame.to_csv(buf, index=False)
    text = buf.getvalue()
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text


def _epoch_dict(h: Any) -> dict:
    d = h.to_dict() if hasattr(h, "to_dict") else dict(h)
    out = {"epoch": int(d["epoch"])}
    for f in _EPOCH_FIELDS[1:]:
        v = _float(d.get(f))
        out[f] = math.nan if v is None else v
    return out


def _json_dict(text) -> dict:
    """A stored JSON object, or {} when it is missing or damaged."""
    try:
        out = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def _dataset_name(config_json) -> str | None:
    """A sweep's dataset as people named it: the dashboard's label, else the data's source."""
    data = _json_dict(config_json).get("data")
    if not isinstance(data, dict):
        return None
    name = data.get("label") or data.get("source")
    return str(name) if name else None


def _finite(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _float(x) -> float | None:
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _int(x) -> int | None:
    if x is None:
        return None
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


def _jsonable(o):
    """Plain JSON types; NaN/inf become None."""
    if isinstance(o, dict):
        return {str(k): _jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_jsonable(v) for v in o]
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        v = float(o)
        return v if math.isfinite(v) else None
    if isinstance(o, np.ndarray):
        return _jsonable(o.tolist())
    if o is None or isinstance(o, str):
        return o
    if hasattr(o, "to_dict"):
        return _jsonable(o.to_dict())
    return str(o)

"""The run store: every training run (CLI, dashboard, sweep) in a local SQLite database.

One row per run in ``runs`` (hyperparameters, dataset fingerprint and sizes, final metrics,
status, duration, source, sweep id, model file path, who made it, a note and tags) and one row
per finished epoch in ``epochs``; sweeps have a row in ``sweeps``
(:mod:`mfcore.runstore_studies`). Who made a run is the history's :attr:`RunHistory.owner`:
the login name on the command line, the browser session in the dashboard, which lets a session
change or delete only its own runs (:meth:`RunHistory.annotate` and
:meth:`RunHistory.delete_runs` with ``only_owner``) while the command line keeps full control.
A run is recorded from its :class:`~mfcore.runs.RunRecord` (:meth:`RunHistory.record`); a
recorded sweep comes back as a :class:`~mfcore.tune.SweepResult` (:func:`sweep_from_history`).
The file itself (schema, location — ``$MFX_HISTORY_DB`` —, concurrency, damaged files) is
:mod:`mfcore.runstore_db`.
"""
from __future__ import annotations

import contextlib
import getpass
import io
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .errors import ConfigError
from .runs import RunRecord
from .runstore_db import APPLICATION_ID, SCHEMA_VERSION, HistoryError, default_history_path
from .runstore_models import ModelFiles
from .runstore_studies import SweepRecords
from .runtable import (MAX_NOTE, PARAM_COLUMNS, PREP_COLUMNS, expand_settings, normalize_tags,
                       runs_to_csv_frame)
from .values import finite

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "SOURCES", "LIST_COLUMNS", "HistoryError",
           "RunHistory", "cli_owner", "default_history_path", "runs_to_csv_frame"]

#: Where a run came from.
SOURCES = ("cli", "app", "sweep")
#: Stored columns :meth:`RunHistory.list_runs` reads, in order.
_STORED = ["id", "created", "source", "owner", "sweep_id", "status", "dataset", "fingerprint",
           "n_users", "n_items", "n_interactions", "n_train", "n_val", "split", "factors",
           "epochs", "lr", "reg", "epochs_run", "best_epoch", "train_rmse", "val_rmse",
           "val_mae", "k", "precision_at_k", "recall_at_k", "ndcg_at_k", "fit_seconds",
           "model_path", "model_state", "note", "tags"]
#: Columns of :meth:`RunHistory.list_runs`, in order: the stored ones, every hyperparameter and
#: preparation option (:mod:`mfcore.runtable`) and ``data``, the dataset in words.
LIST_COLUMNS = [*_STORED, *PARAM_COLUMNS, *PREP_COLUMNS, "data"]
_EPOCH_FIELDS = ("epoch", "loss", "train_rmse", "val_rmse", "seconds", "ratings_per_s",
                 "precision", "recall", "ndcg", "eval_seconds")
_FLOAT_COLUMNS = ("lr", "reg", "train_rmse", "val_rmse", "val_mae", "precision_at_k",
                  "recall_at_k", "ndcg_at_k", "fit_seconds")
_INT_COLUMNS = ("id", "n_users", "n_items", "n_interactions", "n_train", "n_val", "factors",
                "epochs", "epochs_run", "best_epoch", "k")
#: RunRecord fields stored in columns or JSON of their own, not in ``metrics_json``.
_OWN_JSON = ("params", "data", "history", "status")


def cli_owner() -> str:
    """The owner of runs recorded outside the dashboard: ``'user:<login name>'``."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no login name (some containers)
        name = "unknown"
    return f"user:{name}"


class RunHistory(ModelFiles, SweepRecords):
    """The run history stored in one SQLite file (see :class:`~mfcore.runstore_db.RunDatabase`
    for ``path``, creation and concurrency).

    Parameters
    ----------
    path : str or Path, optional
    owner : str, optional
        Recorded as the maker of every run this object records; default :func:`cli_owner`.
        The dashboard passes its browser session's (``'session:<hash>'``).
    """

    def __init__(self, path=None, *, owner: str | None = None) -> None:
        super().__init__(path)
        self.owner = owner or cli_owner()

    # ---- recording -----------------------------------------------------------------------
    def record(self, run: RunRecord, *, source: str, model_path=None,
               sweep_id: str | None = None) -> int:
        """Record one run; returns its run id.

        Parameters
        ----------
        run : RunRecord
            From :func:`mfcore.runs.score_run`. Its sizes, hyperparameters and final metrics go
            to columns, every other field to the run's metrics JSON.
        source : {'cli', 'app', 'sweep'}
        model_path : str or Path, optional
            Where the fitted model was saved (stored as an absolute path).
        sweep_id : str, optional
        """
        if source not in SOURCES:
            raise HistoryError(f"source must be one of {SOURCES}, got {source!r}")
        flat = run.to_dict()
        params, data = flat["params"] or {}, flat["data"] or {}
        history = [_epoch_dict(h) for h in run.history]
        row = {
            "created": time.time(), "source": source, "sweep_id": sweep_id,
            "status": run.status, "dataset": data.get("source"),
            "fingerprint": data.get("fingerprint"),
            "n_users": finite(run.n_users, int), "n_items": finite(run.n_items, int),
            "n_interactions": finite(data.get("n_interactions"), int),
            "n_train": finite(run.n_train, int), "n_val": finite(run.n_val, int),
            "split": run.split,
            "factors": finite(params.get("factors"), int),
            "epochs": finite(params.get("epochs"), int),
            "lr": finite(params.get("lr")), "reg": finite(params.get("reg")),
            "epochs_run": len(history), "best_epoch": finite(run.best_epoch, int),
            **{c: finite(getattr(run, c)) for c in ("train_rmse", "val_rmse", "val_mae",
                                                    "precision_at_k", "recall_at_k",
                                                    "ndcg_at_k", "fit_seconds")},
            "k": finite(run.k, int),
            "model_path": str(Path(model_path).resolve()) if model_path else None,
            "owner": self.owner,
            "params_json": json.dumps(params, allow_nan=False),
            "data_json": json.dumps(data, allow_nan=False),
            "metrics_json": json.dumps({k: v for k, v in flat.items() if k not in _OWN_JSON},
                                       allow_nan=False),
        }
        with self._write() as conn:
            run_id = conn.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES "
                                  f"({', '.join('?' * len(row))})", list(row.values())).lastrowid
            conn.executemany(
                f"INSERT INTO epochs (run_id, {', '.join(_EPOCH_FIELDS)}) VALUES "
                f"(?, {', '.join('?' * len(_EPOCH_FIELDS))})",
                [(run_id, *(h[f] for f in _EPOCH_FIELDS)) for h in history])
        return int(run_id)

    @property
    def models_dir(self) -> Path:
        """Where :meth:`save_model` puts model files: ``models/`` beside the database."""
        return self.path.parent / "models"

    def save_model(self, model, data) -> Path:
        """Save ``model`` (with ``data``'s ids) under :attr:`models_dir`; the file's path.

        For a run recorded with no model file of its own, so it can be loaded again later.
        """
        from .modelio import save_model

        name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(4).hex()}.npz"
        try:
            self.models_dir.mkdir(parents=True, exist_ok=True)
            return save_model(model, self.models_dir / name, data=data)
        except OSError as exc:
            raise self._fail("cannot save the model file beside it", exc) from None

    # ---- reading ---------------------------------------------------------------------------
    def list_runs(self, *, sweep_id: str | None = None, source: str | None = None,
                  owner: str | None = None, limit: int | None = None) -> pd.DataFrame:
        """Runs, newest first, one row each (columns :data:`LIST_COLUMNS`), optionally only
        those of one sweep, source or owner.

        ``created`` is a pandas datetime (UTC); missing metrics are NaN; a hyperparameter or
        preparation option a run did not record is None.
        """
        where, args = [], []
        if owner is not None:
            where.append("owner = ?")
            args.append(owner)
        if sweep_id is not None:
            where.append("sweep_id = ?")
            args.append(sweep_id)
        if source is not None:
            where.append("source = ?")
            args.append(source)
        sql = f"SELECT {', '.join(_STORED)}, params_json, data_json FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        with self._connect() as conn:
            rows = conn.execute(sql, args).fetchall()
        frame = pd.DataFrame([r[:-2] for r in rows], columns=_STORED)
        frame["created"] = pd.to_datetime(frame["created"].astype("float64"), unit="s")
        for c in _FLOAT_COLUMNS:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
        for c in _INT_COLUMNS:
            frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("Int64")
        return expand_settings(frame, [r[-2] for r in rows], [r[-1] for r in rows])

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
                f"SELECT {', '.join(_EPOCH_FIELDS)} FROM epochs WHERE run_id = ? ORDER BY epoch",
                (int(run_id),)).fetchall()
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
    def annotate(self, run_id: int, *, note: str | None = None, tags=None,
                 only_owner: str | None = None) -> None:
        """Set a run's note and/or tags (``''`` clears one; None leaves it as it is).

        ``tags`` is "a, b" or a list (:func:`mfcore.runtable.normalize_tags`). With
        ``only_owner`` the run must be that owner's.

        Raises
        ------
        ConfigError
            A note longer than 2,000 characters, a bad tag.
        HistoryError
            No such run, or (with ``only_owner``) another owner's run.
        """
        changes = {}
        if note is not None:
            note = str(note).strip()
            if len(note) > MAX_NOTE:
                raise ConfigError(f"the note has {len(note):,} characters; at most "
                                  f"{MAX_NOTE:,} are kept")
            changes["note"] = note or None
        if tags is not None:
            changes["tags"] = normalize_tags(tags)
        with self._write() as conn:
            row = conn.execute("SELECT owner FROM runs WHERE id = ?", (int(run_id),)).fetchone()
            if row is None:
                raise HistoryError(f"run history {self.path}: no run {run_id}")
            if only_owner is not None and row[0] != only_owner:
                raise HistoryError(f"run {run_id} was made by someone else: only its maker "
                                   "(or the command line) may change it")
            if changes:
                conn.execute(f"UPDATE runs SET {', '.join(f'{c} = ?' for c in changes)} "
                             "WHERE id = ?", [*changes.values(), int(run_id)])

    def delete_runs(self, run_ids: Iterable[int], *, delete_model_files: bool = False,
                    only_owner: str | None = None) -> int:
        """Delete runs (and their epochs); returns how many were deleted.

        With ``only_owner``, runs of any other owner are kept (the dashboard deletes only its
        session's runs; the command line passes nothing). Model files are kept unless
        ``delete_model_files`` (then missing files are ignored).
        """
        ids = [int(i) for i in run_ids]
        if not ids:
            return 0
        marks = ", ".join("?" * len(ids))
        where, args = f"id IN ({marks})", list(ids)
        if only_owner is not None:
            where, args = where + " AND owner = ?", args + [only_owner]
        with self._write() as conn:
            paths = [r[0] for r in conn.execute(
                f"SELECT model_path FROM runs WHERE {where}", args) if r[0]]
            n = conn.execute(f"DELETE FROM runs WHERE {where}", args).rowcount
            # Sweeps whose runs are all gone are dropped too.
            conn.execute("DELETE FROM sweeps WHERE status != 'running' AND id NOT IN "
                         "(SELECT DISTINCT sweep_id FROM runs WHERE sweep_id IS NOT NULL)")
        if delete_model_files:
            for p in paths:
                with contextlib.suppress(OSError):
                    Path(p).unlink()
            if paths:
                self.drop_unused_seen_files()
        return int(n)

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
            The run saved no model file, the keep-models policy deleted it, or it is gone.
        ModelFileError
            The file is not a valid model.
        """
        from .modelio import load_model
        from .train import MFModel

        run = self.get_run(run_id)
        path = run.get("model_path")
        if run.get("model_state") == "pruned":
            raise HistoryError(f"run {run_id}'s model was not kept: the dashboard's keep-models "
                               "policy deleted its file when newer runs of the same session "
                               "were saved (its metrics and history are kept; train it again "
                               "with its settings, and pin runs with \"Keep this model\" to "
                               "keep their files)")
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
        v = finite(d.get(f))
        out[f] = math.nan if v is None else v
    return out

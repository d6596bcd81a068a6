"""The sweeps table of the run store: a study registered, reopened, finished, listed and read
back (:class:`SweepRecords`, which :class:`~mfcore.runstore.RunHistory` extends)."""
from __future__ import annotations

import json
import time

import pandas as pd

from .runstore_db import HistoryError, RunDatabase
from .runtable import json_dict, sweep_best_value, sweep_dataset
from .values import jsonable

__all__ = ["SweepRecords"]


class SweepRecords(RunDatabase):
    """The sweeps of a run store; ``get_sweep`` reads their runs through ``list_runs``, which
    the subclass provides."""

    def start_sweep(self, sweep_id: str, *, kind: str, metric: str, n_planned: int,
                    config: dict) -> None:
        """Register a sweep (status 'running') before its first trial is recorded."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO sweeps (id, created, status, kind, metric, n_planned, "
                "config_json) VALUES (?, ?, 'running', ?, ?, ?, ?)",
                (sweep_id, time.time(), kind, metric, int(n_planned),
                 json.dumps(jsonable(config), allow_nan=False)))

    def reopen_sweep(self, sweep_id: str, *, n_planned: int) -> None:
        """Mark a recorded sweep 'running' again, to be extended to ``n_planned`` trials."""
        with self._write() as conn:
            found = conn.execute("UPDATE sweeps SET status = 'running', finished = NULL, "
                                 "n_planned = ? WHERE id = ?", (int(n_planned), sweep_id))
            if found.rowcount == 0:
                raise HistoryError(f"run history {self.path}: no sweep {sweep_id!r}")

    def finish_sweep(self, sweep_id: str, *, status: str, summary: dict) -> None:
        """Store a sweep's final status and summary (best, importance, wall seconds)."""
        with self._write() as conn:
            conn.execute("UPDATE sweeps SET finished = ?, status = ?, summary_json = ? "
                         "WHERE id = ?", (time.time(), status,
                                          json.dumps(jsonable(summary), allow_nan=False),
                                          sweep_id))

    def list_sweeps(self) -> pd.DataFrame:
        """Sweeps, newest first, one row each.

        Columns: ``id``, ``created``, ``finished`` (pandas datetimes, UTC), ``status``, ``kind``,
        ``metric``, ``n_planned``, ``n_runs`` (trials still in the history), ``best_val_rmse``
        (lowest validation RMSE of its fitted or early-stopped trials, NaN when none),
        ``best_value`` (the best trial's objective as its summary recorded it, NaN when none) and
        ``dataset`` (the dashboard's dataset label, else the data's source; None when unknown).
        """
        with self._connect() as conn:
            frame = pd.read_sql_query(
                "SELECT s.id, s.created, s.finished, s.status, s.kind, s.metric, s.n_planned, "
                "(SELECT COUNT(*) FROM runs r WHERE r.sweep_id = s.id) AS n_runs, "
                "(SELECT MIN(r.val_rmse) FROM runs r WHERE r.sweep_id = s.id "
                " AND r.status IN ('fitted', 'early_stopped')) AS best_val_rmse, "
                "s.config_json, s.summary_json FROM sweeps s ORDER BY s.created DESC", conn)
        for c in ("created", "finished"):
            frame[c] = pd.to_datetime(pd.to_numeric(frame[c], errors="coerce"), unit="s")
        frame["best_val_rmse"] = pd.to_numeric(frame["best_val_rmse"],
                                               errors="coerce").astype("float64")
        frame["dataset"] = [sweep_dataset(c) for c in frame.pop("config_json")]
        frame["best_value"] = pd.Series([sweep_best_value(t) for t in frame.pop("summary_json")],
                                        index=frame.index, dtype="float64")
        return frame

    def get_sweep(self, sweep_id: str) -> dict:
        """A sweep's row with ``config`` and ``summary`` parsed, and its ``runs`` (DataFrame).

        ``runs`` holds the sweep's runs in the order they were recorded (columns
        :data:`LIST_COLUMNS` plus ``metrics``, each run's parsed metrics dict, where a sweep
        trial keeps its 1-based ``trial`` number and any ``error``, and ``params``, its
        hyperparameters).

        Raises
        ------
        HistoryError
            No such sweep, or its stored JSON is damaged.
        """
        with self._connect() as conn:
            row = conn.execute("SELECT id, created, finished, status, kind, metric, n_planned, "
                               "config_json, summary_json FROM sweeps WHERE id = ?",
                               (sweep_id,)).fetchone()
            stored = {r[0]: r[1:] for r in conn.execute(
                "SELECT id, metrics_json, params_json FROM runs WHERE sweep_id = ?", (sweep_id,))}
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
        runs["metrics"] = [json_dict(stored.get(int(i), (None,))[0]) for i in runs["id"]]
        runs["params"] = [json_dict(stored.get(int(i), (None, None))[1]) for i in runs["id"]]
        out["runs"] = runs
        return out

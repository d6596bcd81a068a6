"""What a sweep produces: its trials (:class:`Trial`) and the whole (:class:`SweepResult`)."""
from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Sequence

import pandas as pd

from ..runs import RunRecord
from ..values import finite
from .space import SWEPT

__all__ = ["METRICS", "TRIAL_COLUMNS", "Trial", "SweepResult", "trials_frame", "best_trial",
           "new_sweep_id"]

#: Metrics the best configuration can be chosen by, and whether higher is better.
METRICS = {"val_rmse": False, "precision_at_k": True}
_METRIC_FIELDS = ("val_rmse", "val_mae", "train_rmse", "precision_at_k", "recall_at_k",
                  "ndcg_at_k")


def new_sweep_id() -> str:
    """A readable unique id: ``sw-YYYYmmdd-HHMMSS-xxxxxx``."""
    return f"sw-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


@dataclass
class Trial:
    """One finished trial of a sweep.

    ``status`` is the model's: 'fitted', 'early_stopped' or 'diverged' ('failed' when training
    raised, with ``error``). ``seconds`` covers training and scoring; ``history`` holds the
    per-epoch EpochStats dicts.
    """

    index: int
    params: dict
    status: str
    val_rmse: float | None = None
    val_mae: float | None = None
    train_rmse: float | None = None
    precision_at_k: float | None = None
    recall_at_k: float | None = None
    ndcg_at_k: float | None = None
    epochs_run: int = 0
    best_epoch: int | None = None
    fit_seconds: float = 0.0
    seconds: float = 0.0
    run_id: int | None = None
    model_path: str | None = None
    error: str | None = None
    history: list = field(default_factory=list)

    @classmethod
    def from_record(cls, index: int, record: RunRecord, **fields) -> "Trial":
        """The trial whose run is ``record`` (its metrics, status, error); ``fields`` win."""
        return cls(index=index, params={p: record.params.get(p) for p in SWEPT},
                   status=record.status, **{f: getattr(record, f) for f in _METRIC_FIELDS},
                   epochs_run=record.epochs_run, best_epoch=record.best_epoch,
                   fit_seconds=record.fit_seconds or 0.0, error=record.extra.get("error"),
                   history=list(record.history), **fields)

    @property
    def usable(self) -> bool:
        """Eligible as the best configuration (finished normally, finite metric)."""
        return self.status in ("fitted", "early_stopped") and finite(self.val_rmse) is not None

    def row(self) -> dict:
        """A flat dict (one table row): trial, the swept params, status and metrics."""
        d = {"trial": self.index + 1, **{p: self.params.get(p) for p in SWEPT},
             "status": self.status}
        for f in TRIAL_COLUMNS[len(SWEPT) + 2:]:
            d[f] = getattr(self, f)
        return d

    def to_dict(self, *, history: bool = False) -> dict:
        d = asdict(self)
        if not history:
            d.pop("history")
        return d


TRIAL_COLUMNS = ["trial", *SWEPT, "status", *_METRIC_FIELDS, "epochs_run", "best_epoch",
                 "seconds", "run_id", "error"]


def trials_frame(trials: Sequence[Trial]) -> pd.DataFrame:
    """The trials as a DataFrame (columns :data:`TRIAL_COLUMNS`), in trial order."""
    frame = pd.DataFrame([t.row() for t in trials], columns=TRIAL_COLUMNS)
    for c in (*_METRIC_FIELDS, "seconds", "lr", "reg"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    return frame


def best_trial(trials: Sequence[Trial], metric: str = "val_rmse") -> Trial | None:
    """The best usable trial by ``metric`` (ties: the earlier trial)."""
    higher = METRICS[metric]
    cands = [t for t in trials if t.usable and finite(getattr(t, metric)) is not None]
    if not cands:
        return None
    if higher:
        return max(cands, key=lambda t: (getattr(t, metric), -t.index))
    return min(cands, key=lambda t: (getattr(t, metric), t.index))


@dataclass
class SweepResult:
    """What :func:`~mfcore.tune.run_sweep` returns and
    :func:`~mfcore.runstore_sweeps.sweep_from_history` rebuilds.

    Attributes
    ----------
    sweep_id : str
    kind : {'grid', 'random', 'custom'}
    metric : {'val_rmse', 'precision_at_k'}
    status : {'done', 'cancelled'}
        A sweep read back from the run store may also be 'failed' or 'running'.
    trials : list of Trial
        The finished trials, in order.
    n_planned : int
    best : dict or None
        The best trial's ``to_dict()`` (params, metrics, run id).
    importance : dict
        eta² of each varied hyperparameter (see :mod:`mfcore.tune.importance`).
    wall_seconds : float
    meta : dict
        Data summary, split, fixed parameters, k, search space.
    warnings : list of str
        E.g. a trial that could not be recorded in the run history.
    """

    sweep_id: str
    kind: str
    metric: str
    status: str
    trials: list
    n_planned: int
    best: dict | None
    importance: dict
    wall_seconds: float
    meta: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    def trials_frame(self) -> pd.DataFrame:
        return trials_frame(self.trials)

    def to_dict(self) -> dict:
        """JSON-ready summary (no per-epoch histories)."""
        return {"sweep_id": self.sweep_id, "kind": self.kind, "metric": self.metric,
                "status": self.status, "n_planned": self.n_planned,
                "n_trials": len(self.trials),
                "trials": [t.to_dict() for t in self.trials], "best": self.best,
                "importance": self.importance, "wall_seconds": self.wall_seconds,
                "meta": self.meta, "warnings": list(self.warnings)}

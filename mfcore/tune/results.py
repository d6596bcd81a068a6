"""What a study produces: its trials (:class:`Trial`) and the whole (:class:`SweepResult`)."""
from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Sequence

from ..values import finite
from .objective import Objective, parse_objective

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["STATES", "METRIC_COLUMNS", "Trial", "SweepResult", "trials_frame", "best_trial",
           "new_sweep_id"]

#: A trial's state as Optuna sees it.
STATES = ("complete", "pruned", "failed")
#: Final figures of a trial's model (None when not measured).
METRIC_COLUMNS = ("val_rmse", "train_rmse", "precision_at_k", "recall_at_k", "ndcg_at_k")


def new_sweep_id() -> str:
    """A readable unique id: ``sw-YYYYmmdd-HHMMSS-xxxxxx``."""
    return f"sw-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


@dataclass
class Trial:
    """One finished trial of a study.

    Attributes
    ----------
    number : int
        Optuna's trial number (0-based; people see ``number + 1``).
    params : dict
        The searched hyperparameters' values.
    state : {'complete', 'pruned', 'failed'}
    value : float or None
        The objective: the final model's figure for a complete trial, the last reported
        per-epoch figure for a pruned one, None for a failed one.
    status : str
        The run's: 'fitted', 'early_stopped', 'diverged', 'pruned' or 'failed'.
    intermediate : dict
        Epoch → the per-epoch figure reported for pruning.
    seconds : float
        Training and scoring, where the trial ran.
    overhead_seconds : float or None
        Time from handing the trial out to having its result, less ``seconds``: shipping,
        scheduling and the result's trip back.
    worker : str or None
        Where it ran: ``thread:<name>`` in this process, or a Dask worker's address.
    """

    number: int
    params: dict
    state: str
    value: float | None = None
    status: str = "fitted"
    val_rmse: float | None = None
    train_rmse: float | None = None
    precision_at_k: float | None = None
    recall_at_k: float | None = None
    ndcg_at_k: float | None = None
    epochs_run: int = 0
    best_epoch: int | None = None
    seconds: float = 0.0
    overhead_seconds: float | None = None
    worker: str | None = None
    run_id: int | None = None
    model_path: str | None = None
    error: str | None = None
    intermediate: dict = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        """Eligible as the best configuration (complete with a finite value)."""
        return self.state == "complete" and finite(self.value) is not None

    def row(self) -> dict:
        """A flat dict (one table row): trial, params, state, status, value and figures."""
        d = {"trial": self.number + 1, **self.params, "state": self.state,
             "status": self.status, "value": self.value}
        for f in (*METRIC_COLUMNS, "epochs_run", "seconds", "worker", "run_id", "error"):
            d[f] = getattr(self, f)
        return d

    def to_dict(self) -> dict:
        d = asdict(self)
        d["intermediate"] = {str(k): v for k, v in self.intermediate.items()}
        return d


def trials_frame(trials: Sequence[Trial], params: Sequence[str] | None = None) -> pd.DataFrame:
    """The trials as a DataFrame in trial order: ``trial``, the params, ``state``, ``status``,
    ``value``, the final figures, ``epochs_run``, ``seconds``, ``worker``, ``run_id``,
    ``error``."""
    if params is None:
        params = list(dict.fromkeys(p for t in trials for p in t.params))
    import pandas as pd

    cols = ["trial", *params, "state", "status", "value", *METRIC_COLUMNS, "epochs_run",
            "seconds", "worker", "run_id", "error"]
    frame = pd.DataFrame([t.row() for t in sorted(trials, key=lambda t: t.number)],
                         columns=cols)
    for c in ("value", *METRIC_COLUMNS, "seconds"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    return frame


def best_trial(trials: Sequence[Trial], objective: Objective) -> Trial | None:
    """The best complete trial by its value (ties: the earlier trial)."""
    cands = [t for t in trials if t.usable]
    if not cands:
        return None
    sign = -1.0 if objective.ranking else 1.0
    return min(cands, key=lambda t: (sign * t.value, t.number))


@dataclass
class SweepResult:
    """A study: what :func:`~mfcore.tune.run_study` returns and
    :func:`~mfcore.runstore_sweeps.sweep_from_history` rebuilds.

    Attributes
    ----------
    sweep_id : str
    sampler : {'tpe', 'random', 'grid'}
    objective : str
        As :func:`~mfcore.tune.objective.parse_objective` reads it ('ndcg@10', 'val_rmse').
    status : {'done', 'cancelled'}
        A study read back from the run store may also be 'failed' or 'running'.
    trials : list of Trial
        The finished trials, in trial order.
    n_planned : int
    best : dict or None
        The best trial's ``to_dict()``.
    importance : dict
        Each searched hyperparameter's importance to the objective (PED-ANOVA, summing to 1).
    wall_seconds : float
    meta : dict
        ``solver``, ``kind``, ``space`` (text), ``fixed_params``, ``pruner``, ``seed``,
        ``where`` (threads or the cluster), ``reference`` (the popularity baseline's value on a
        ranking objective), the data summary, split, sizes.
    warnings : list of str
    """

    sweep_id: str
    sampler: str
    objective: str
    status: str
    trials: list
    n_planned: int
    best: dict | None
    importance: dict
    wall_seconds: float
    meta: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    @property
    def objective_spec(self) -> Objective:
        return parse_objective(self.objective, k=int(self.meta.get("k") or 10))

    @property
    def searched(self) -> list[str]:
        """The searched hyperparameters, in the solver's order."""
        from .space import SearchSpace
        return list(SearchSpace(self.meta.get("space"), solver=self.meta.get("solver", "sgd"),
                                kind=self.meta.get("kind", "ratings"),
                                grid=self.sampler == "grid").dims)

    def trials_frame(self) -> pd.DataFrame:
        return trials_frame(self.trials, self.searched)

    def counts(self) -> dict:
        """How many trials are in each state."""
        return {s: sum(t.state == s for t in self.trials) for s in STATES}

    def to_dict(self) -> dict:
        """JSON-ready: every trial (params, state, value, epochs run, seconds, worker), the best."""
        spec = self.objective_spec
        return {"sweep_id": self.sweep_id, "sampler": self.sampler,
                "objective": self.objective, "direction": spec.direction,
                "status": self.status, "n_planned": self.n_planned,
                "n_trials": len(self.trials), "states": self.counts(),
                "trials": [t.to_dict() for t in self.trials], "best": self.best,
                "importance": self.importance, "wall_seconds": self.wall_seconds,
                "meta": self.meta, "warnings": list(self.warnings)}

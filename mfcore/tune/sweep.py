"""Hyperparameter sweeps: a grid or a seeded random search over latent size, lr, reg, epochs.

The data is loaded and split once by the caller; :func:`run_sweep` trains one
:class:`~mfcore.train.MFModel` per trial on the same arrays (the numba kernels are compiled once
per process, so a trial costs only its training), scores it on the validation rows, optionally
measures precision@k, records it in the run history under a shared sweep id and reports it
through ``callback``. A ``threading.Event`` cancel stops the sweep within a fraction of a second;
the finished trials are kept (the interrupted one is dropped). Diverged and early-stopped trials
are marked, never fatal; diverged ones are not candidates for the best configuration.

Afterwards :class:`SweepResult` holds the trials, the best configuration (lowest validation RMSE,
or highest precision@k when ``metric='precision_at_k'``) and the eta² importance of each
hyperparameter (:mod:`mfcore.tune.importance`).

Command line: ``python -m mfcore sweep DATA [--factors 10,20,40 --lr 0.005,0.01 ...]`` or
``--random N --seed S`` with ``lo:hi`` ranges (:func:`add_sweep_parser`).
"""
from __future__ import annotations

import functools
import itertools
import math
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from ..errors import ConfigError, MFError
from ..history import _float as _opt_float
from .importance import eta_squared

__all__ = ["SWEPT", "METRICS", "Range", "Trial", "SweepResult", "grid_trials", "random_trials",
           "run_sweep", "sweep_job", "sweep_from_history", "new_sweep_id", "add_sweep_parser",
           "cmd_sweep"]

#: The hyperparameters a sweep varies.
SWEPT = ("factors", "lr", "reg", "epochs")
#: Metrics the best configuration can be chosen by, and whether higher is better.
METRICS = {"val_rmse": False, "precision_at_k": True}
#: Refuse grids larger than this (a typo like --factors 1,2,...,1000 would run for hours).
MAX_TRIALS = 2000
_INT_PARAMS = ("factors", "epochs")
_LOG_DEFAULT = {"factors": True, "lr": True, "reg": True, "epochs": False}


@dataclass(frozen=True)
class Range:
    """A range to draw from in a random search.

    ``log=True`` draws log-uniformly (needs ``low > 0``); integer parameters are rounded.
    """

    low: float
    high: float
    log: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ConfigError(f"a range needs finite low <= high, got {self.low}:{self.high}")
        if self.log and self.low <= 0:
            raise ConfigError(f"a log-uniform range needs low > 0, got {self.low}:{self.high}")

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.log:
            return np.exp(rng.uniform(math.log(self.low), math.log(self.high), n))
        return rng.uniform(self.low, self.high, n)


# ---- search spaces --------------------------------------------------------------------------
def _as_list(name: str, v) -> list:
    if isinstance(v, Range):
        raise ConfigError(f"{name}: a grid takes values, not a range (ranges are for random "
                          f"search)")
    if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
        v = [v]
    out = list(v)
    if not out:
        raise ConfigError(f"{name}: give at least one value")
    return out


def _cast(name: str, v):
    if name in _INT_PARAMS:
        if isinstance(v, float) and not v.is_integer():
            raise ConfigError(f"{name} must be an integer, got {v!r}")
        return int(v)
    return float(v)


def grid_trials(*, factors=(10, 20, 40), lr=(0.005, 0.01), reg=(0.02, 0.1),
                epochs=(20,)) -> list[dict]:
    """Every combination of the given values (Cartesian product), factors varying slowest.

    Each argument is a value or a sequence of values. Returns a list of
    ``{'factors', 'lr', 'reg', 'epochs'}`` dicts.
    """
    axes = {n: [_cast(n, x) for x in dict.fromkeys(_as_list(n, v))]
            for n, v in (("factors", factors), ("lr", lr), ("reg", reg), ("epochs", epochs))}
    n = math.prod(len(a) for a in axes.values())
    if n > MAX_TRIALS:
        raise ConfigError(f"the grid has {n:,} combinations; at most {MAX_TRIALS:,} are allowed "
                          f"(use random search instead)")
    return [dict(zip(SWEPT, combo)) for combo in itertools.product(*axes.values())]


def random_trials(n: int, *, factors=Range(4, 64), lr=Range(1e-3, 5e-2),
                  reg=Range(1e-3, 0.2), epochs=20, seed: int = 0) -> list[dict]:
    """``n`` configurations drawn independently with a seeded generator.

    Each argument is a :class:`Range` (a ``(low, high)`` tuple is read as one: log-uniform for
    factors, lr and reg, uniform for epochs), a list of choices (drawn uniformly), or a single
    value (fixed). Integer parameters are rounded to the nearest integer. The same ``seed``
    always gives the same trials.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"the number of random trials must be an integer >= 1, got {n!r}")
    if n > MAX_TRIALS:
        raise ConfigError(f"at most {MAX_TRIALS:,} trials are allowed, got {n:,}")
    rng = np.random.default_rng(seed)
    cols = {}
    for name, spec in (("factors", factors), ("lr", lr), ("reg", reg), ("epochs", epochs)):
        if isinstance(spec, tuple) and len(spec) == 2:
            spec = Range(float(spec[0]), float(spec[1]), log=_LOG_DEFAULT[name])
        if isinstance(spec, Range):
            vals = spec.draw(rng, n)
            if name in _INT_PARAMS:
                vals = np.maximum(np.rint(vals), 1 if name == "factors" else 0)
        elif isinstance(spec, (list, np.ndarray)):
            choices = _as_list(name, spec)
            vals = [choices[i] for i in rng.integers(0, len(choices), n)]
        else:
            vals = [spec] * n
        cols[name] = [_cast(name, v) for v in vals]
    return [{k: cols[k][i] for k in SWEPT} for i in range(n)]


def new_sweep_id() -> str:
    """A readable unique id: ``sw-YYYYmmdd-HHMMSS-xxxxxx``."""
    return f"sw-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"


# ---- results --------------------------------------------------------------------------------
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

    @property
    def usable(self) -> bool:
        """Eligible as the best configuration (finished normally, finite metric)."""
        return self.status in ("fitted", "early_stopped") and _finite(self.val_rmse)

    def row(self) -> dict:
        """A flat dict (one table row): trial, the swept params, status and metrics."""
        d = {"trial": self.index + 1, **{p: self.params.get(p) for p in SWEPT},
             "status": self.status}
        for f in ("val_rmse", "val_mae", "train_rmse", "precision_at_k", "recall_at_k",
                  "ndcg_at_k", "epochs_run", "best_epoch", "seconds", "run_id", "error"):
            d[f] = getattr(self, f)
        return d

    def to_dict(self, *, history: bool = False) -> dict:
        d = asdict(self)
        if not history:
            d.pop("history")
        return d


TRIAL_COLUMNS = ["trial", *SWEPT, "status", "val_rmse", "val_mae", "train_rmse",
                 "precision_at_k", "recall_at_k", "ndcg_at_k", "epochs_run", "best_epoch",
                 "seconds", "run_id", "error"]


def trials_frame(trials: Sequence[Trial]) -> pd.DataFrame:
    """The trials as a DataFrame (columns :data:`TRIAL_COLUMNS`), in trial order."""
    frame = pd.DataFrame([t.row() for t in trials], columns=TRIAL_COLUMNS)
    for c in ("val_rmse", "val_mae", "train_rmse", "precision_at_k", "recall_at_k", "ndcg_at_k",
              "seconds", "lr", "reg"):
        frame[c] = pd.to_numeric(frame[c], errors="coerce").astype("float64")
    return frame


def best_trial(trials: Sequence[Trial], metric: str = "val_rmse") -> Trial | None:
    """The best usable trial by ``metric`` (ties: the earlier trial)."""
    higher = METRICS[metric]
    cands = [t for t in trials if t.usable and _finite(getattr(t, metric))]
    if not cands:
        return None
    if higher:
        return max(cands, key=lambda t: (getattr(t, metric), -t.index))
    return min(cands, key=lambda t: (getattr(t, metric), t.index))


@dataclass
class SweepResult:
    """What :func:`run_sweep` returns.

    Attributes
    ----------
    sweep_id : str
    kind : {'grid', 'random', 'custom'}
    metric : {'val_rmse', 'precision_at_k'}
    status : {'done', 'cancelled'}
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


# ---- running --------------------------------------------------------------------------------
def run_sweep(train, val, trials: Sequence[dict], *, data=None, base_params: dict | None = None,
              metric: str = "val_rmse", k: int | None = None, ranking: dict | None = None,
              history=None, split_kind: str | None = None, sweep_id: str | None = None,
              kind: str = "custom", model_dir=None,
              callback: Callable[[Trial], None] | None = None,
              epoch_callback: Callable[[int, Any], None] | None = None,
              cancel: threading.Event | None = None, space: dict | None = None,
              data_info: dict | None = None) -> SweepResult:
    """Train and score one model per trial on the same, already split, data.

    Parameters
    ----------
    train, val : Interactions
        Training and validation rows (same id maps). Validation rows are required.
    trials : sequence of dict
        Hyperparameters per trial (from :func:`grid_trials` / :func:`random_trials`, or any
        MFModel keywords).
    data : Interactions, optional
        The full dataset (its summary and fingerprint go to the history; the favourites
        ranking definition uses it). Defaults to ``train``.
    base_params : dict, optional
        MFModel keywords shared by every trial (seed, threads, early_stopping, ...); a trial's
        own keys win. ``threads`` defaults to 1 (deterministic).
    metric : {'val_rmse', 'precision_at_k'}
        How the best trial is chosen and what the importance explains.
    k : int, optional
        Measure precision/recall/NDCG@k per trial (required for ``metric='precision_at_k'``).
    ranking : dict, optional
        Extra keywords for :func:`mfcore.evaluate.ranking.evaluate_ranking` (``definition``,
        ``direction``, ``sample``).
    history : RunHistory, optional
        Record every trial there (source 'sweep') and the sweep itself. A history that cannot be
        used raises before the first trial; a failed write later only adds a warning.
    split_kind : str, optional
        Stored with each run.
    sweep_id : str, optional
        Default :func:`new_sweep_id`.
    kind : str
        'grid', 'random' or 'custom' (informative).
    model_dir : str or Path, optional
        Save each trial's model there as ``<sweep_id>-tNNN.npz`` (path stored in the history).
    callback : callable, optional
        ``callback(trial)`` after each finished trial (from the sweep's thread).
    epoch_callback : callable, optional
        ``epoch_callback(trial_index, EpochStats)`` after every epoch of every trial.
    cancel : threading.Event, optional
        When set, the running trial stops and is dropped; the finished trials are kept.
    space : dict, optional
        A description of the search space, kept in ``meta`` and the history.
    data_info : dict, optional
        Added to the dataset summary stored with each run (e.g. ``{'transform': 'log1p'}``).

    Returns
    -------
    SweepResult

    Raises
    ------
    ConfigError
        No validation rows, an unknown metric, precision@k without ``k``, invalid
        hyperparameters in any trial (checked before the first trial runs).
    ResourceError
        The largest trial would not fit in memory.
    HistoryError
        The run history file is unusable.
    """
    from ..evaluate.accuracy import score_predictions
    from ..train import MFModel, check_memory

    t_start = time.perf_counter()
    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if metric == "precision_at_k" and not k:
        raise ConfigError("choosing the best trial by precision@k needs k")
    if val is None or len(val) == 0:
        raise ConfigError("a sweep needs validation rows to compare trials: use a split with a "
                          "validation fraction > 0")
    trials = [dict(t) for t in trials]
    if not trials:
        raise ConfigError("the sweep has no trials")
    base = {"threads": 1, **(base_params or {})}
    models = [MFModel(**{**base, **t}) for t in trials]  # ConfigError before anything runs
    check_memory(train.n_users, train.n_items, len(train),
                 max(m.params["factors"] for m in models),
                 any(m.params["early_stopping"] for m in models))
    data = train if data is None else data
    sweep_id = sweep_id or new_sweep_id()
    summary = dict(data.summary())
    summary["fingerprint"] = data.fingerprint
    if getattr(data, "extra", None) and data.extra.get("transform"):
        summary["transform"] = data.extra["transform"].get("kind")
    summary.update(data_info or {})
    fixed = {k_: v for k_, v in models[0].params.items() if k_ not in SWEPT}
    meta = {"data": summary, "split": split_kind, "n_train": len(train), "n_val": len(val),
            "fixed_params": fixed, "k": k, "ranking": dict(ranking or {}),
            "space": space or {}, "kind": kind, "metric": metric}
    if model_dir is not None:
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
    if history is not None:
        history.start_sweep(sweep_id, kind=kind, metric=metric, n_planned=len(trials),
                            config={**meta, "trials": trials})
    cancel = cancel or threading.Event()
    done: list[Trial] = []
    warnings: list[str] = []
    status = "done"
    for index, (params, model) in enumerate(zip(trials, models)):
        if cancel.is_set():
            status = "cancelled"
            break
        t0 = time.perf_counter()
        on_epoch = None if epoch_callback is None else functools.partial(epoch_callback, index)
        trial = Trial(index=index, params={p: model.params[p] for p in SWEPT}, status="failed")
        try:
            model.fit(train, val, callback=on_epoch, cancel=cancel)
        except MFError as exc:
            trial.error = str(exc)
        else:
            if model.status_ == "cancelled":
                status = "cancelled"
                break
            trial.status = model.status_
            trial.fit_seconds = time.perf_counter() - t0
            trial.history = [h.to_dict() for h in model.history_]
            trial.epochs_run = len(model.history_)
            trial.best_epoch = model.best_epoch_
            s_val = score_predictions(model, val, train=train)
            trial.val_rmse, trial.val_mae = _num(s_val["rmse"]), _num(s_val["mae"])
            trial.train_rmse = _num(score_predictions(model, train)["rmse"])
            if k:
                from ..evaluate.ranking import evaluate_ranking
                opts = {"definition": "heldout", "direction": "users", **(ranking or {})}
                if opts["definition"] == "favourites":
                    opts.setdefault("full_data", data)
                res = evaluate_ranking(model, train, val, k=int(k), seed=0, cancel=cancel,
                                       **opts)
                if getattr(res, "cancelled", False) or cancel.is_set():
                    status = "cancelled"
                    break
                trial.precision_at_k = _num(res.precision)
                trial.recall_at_k = _num(res.recall)
                trial.ndcg_at_k = _num(res.ndcg)
            if model_dir is not None:
                from ..modelio import save_model
                path = model_dir / f"{sweep_id}-t{index + 1:03d}.npz"
                try:
                    save_model(model, path, data=data)
                    trial.model_path = str(path.resolve())
                except (MFError, OSError) as exc:
                    warnings.append(f"trial {index + 1}: model not saved ({exc})")
        trial.seconds = time.perf_counter() - t0
        if history is not None:
            try:
                trial.run_id = history.record_result(
                    _trial_result(trial, model, summary, train, val, split_kind, k, ranking),
                    source="sweep", model_path=trial.model_path, sweep_id=sweep_id)
            except MFError as exc:
                warnings.append(f"trial {index + 1}: not recorded in the run history ({exc})")
        done.append(trial)
        if callback is not None:
            callback(trial)
    best = best_trial(done, metric)
    importance = eta_squared(trials_frame(done), metric)
    result = SweepResult(sweep_id=sweep_id, kind=kind, metric=metric, status=status,
                         trials=done, n_planned=len(trials),
                         best=best.to_dict() if best is not None else None,
                         importance=importance, wall_seconds=time.perf_counter() - t_start,
                         meta=meta, warnings=warnings)
    if history is not None:
        try:
            history.finish_sweep(sweep_id, status=status,
                                 summary={"best": result.best, "importance": importance,
                                          "wall_seconds": result.wall_seconds,
                                          "n_trials": len(done)})
        except MFError as exc:
            warnings.append(f"sweep summary not recorded in the run history ({exc})")
    return result


def sweep_from_history(history, sweep_id: str) -> SweepResult:
    """A recorded sweep rebuilt from the run history, to look at it again later.

    The trials come from the sweep's runs still in the history (a run deleted on the Runs page
    is gone from the sweep too), in trial order; the best trial and the importance are computed
    from them with :func:`best_trial` and :func:`~mfcore.tune.importance.eta_squared`, exactly as
    :func:`run_sweep` does, so they match what the sweep reported when none was deleted.
    Per-epoch histories are not loaded (``Trial.history`` is empty; see
    :meth:`~mfcore.history.RunHistory.get_run`).

    Parameters
    ----------
    history : RunHistory
    sweep_id : str

    Returns
    -------
    SweepResult
        ``status`` is the recorded one: 'done', 'cancelled', 'failed', or 'running' for a sweep
        still running or whose process stopped before it finished. ``meta`` is the stored
        configuration (data summary, split, fixed parameters, k, search space) plus
        ``created`` / ``finished`` (unix seconds); ``warnings`` says what differs from the
        original result (deleted trials, unfinished sweep).

    Raises
    ------
    HistoryError
        The history cannot be read, has no such sweep, or the sweep's settings are damaged.
    """
    sweep = history.get_sweep(sweep_id)
    meta = {k: v for k, v in sweep["config"].items() if k != "trials"}
    summary = sweep["summary"]
    trials: list[Trial] = []
    for pos, (_, run) in enumerate(sweep["runs"].iterrows()):
        m = run["metrics"] if isinstance(run["metrics"], dict) else {}
        number = _opt_int(m.get("trial"))
        fit_seconds = _opt_float(run["fit_seconds"]) or 0.0
        trials.append(Trial(
            index=number - 1 if number and number >= 1 else pos,
            params={p: (_opt_int(run[p]) if p in _INT_PARAMS else _opt_float(run[p]))
                    for p in SWEPT},
            status=str(run["status"]),
            val_rmse=_opt_float(run["val_rmse"]), val_mae=_opt_float(run["val_mae"]),
            train_rmse=_opt_float(run["train_rmse"]),
            precision_at_k=_opt_float(run["precision_at_k"]),
            recall_at_k=_opt_float(run["recall_at_k"]), ndcg_at_k=_opt_float(run["ndcg_at_k"]),
            epochs_run=_opt_int(run["epochs_run"]) or 0, best_epoch=_opt_int(run["best_epoch"]),
            fit_seconds=fit_seconds, seconds=_opt_float(m.get("seconds")) or fit_seconds,
            run_id=_opt_int(run["id"]), model_path=run["model_path"] or None,
            error=m.get("error")))
    trials.sort(key=lambda t: (t.index, t.run_id or 0))
    metric = sweep.get("metric") or meta.get("metric") or "val_rmse"
    if metric not in METRICS:
        metric = "val_rmse"
    best = best_trial(trials, metric)
    status = str(sweep.get("status") or "done")
    n_planned = _opt_int(sweep.get("n_planned")) or len(trials)
    warnings: list[str] = []
    recorded = _opt_int(summary.get("n_trials"))
    if recorded is not None and recorded > len(trials):
        warnings.append(f"{recorded - len(trials)} of the sweep's {recorded} trials were "
                        "deleted from the run history; the best and the importance are over the "
                        "remaining ones.")
    if status == "running":
        warnings.append(f"This sweep never finished (it is still running, or its server "
                        f"stopped): {len(trials)} of {n_planned} trials were recorded.")
    created, finished = sweep.get("created"), sweep.get("finished")
    wall = _opt_float(summary.get("wall_seconds"))
    if wall is None:
        wall = (float(finished) - float(created) if finished and created
                else float(sum(t.seconds for t in trials)))
    meta.update(created=created, finished=finished, kind=sweep.get("kind") or meta.get("kind"),
                metric=metric)
    return SweepResult(sweep_id=str(sweep["id"]), kind=str(meta.get("kind") or "custom"),
                       metric=metric, status=status, trials=trials, n_planned=n_planned,
                       best=best.to_dict() if best is not None else None,
                       importance=eta_squared(trials_frame(trials), metric),
                       wall_seconds=wall, meta=meta, warnings=warnings)


def _opt_int(x) -> int | None:
    v = _opt_float(x)
    return int(v) if v is not None else None


def _trial_result(trial: Trial, model, summary: dict, train, val, split_kind, k, ranking) -> dict:
    """The CLI ``train``-style dict of one trial, for the run history."""
    out = {"status": trial.status, "history": trial.history, "params": dict(model.params),
           "data": summary, "n_users": train.n_users, "n_items": train.n_items,
           "n_train": len(train), "n_val": len(val), "split": split_kind,
           "train_rmse": trial.train_rmse, "val_rmse": trial.val_rmse, "val_mae": trial.val_mae,
           "fit_seconds": trial.fit_seconds, "best_epoch": trial.best_epoch,
           "trial": trial.index + 1, "seconds": trial.seconds}
    if trial.error:
        out["error"] = trial.error
    if getattr(model, "diverged_at_", None):
        out["diverged_at"] = {"epoch": model.diverged_at_[0], "step": model.diverged_at_[1]}
    if k:
        out.update({"k": int(k), "precision_at_k": trial.precision_at_k,
                    "recall_at_k": trial.recall_at_k, "ndcg_at_k": trial.ndcg_at_k,
                    **{f"ranking_{a}": b for a, b in (ranking or {}).items()}})
    return out


def sweep_job(train, val, trials: Sequence[dict], **kwargs) -> Callable:
    """A :class:`mfcore.jobs.JobRegistry` job function running :func:`run_sweep`.

    Each finished :class:`Trial` goes to ``job.report_epoch`` (so the job's ``history`` is the
    list of finished trials), progress counts trials and epochs, the job's cancel event cancels
    the sweep, and the :class:`SweepResult` is the job's result (job status 'cancelled' when
    cancelled, else 'done'). ``kwargs`` go to :func:`run_sweep`; ``sweep_id`` is fixed up front
    and put in the job's info with the number of trials; ``callback`` and ``epoch_callback``
    in ``kwargs`` are called too, after the job's own reporting.
    """
    trials = [dict(t) for t in trials]
    kwargs.setdefault("sweep_id", new_sweep_id())
    user_trial_cb = kwargs.pop("callback", None)
    user_epoch_cb = kwargs.pop("epoch_callback", None)
    n = len(trials)
    epochs = [int(t.get("epochs", (kwargs.get("base_params") or {}).get("epochs", 20)))
              for t in trials]

    def fn(job) -> SweepResult:
        job.update_info(kind="sweep", n_trials=n, sweep_id=kwargs["sweep_id"],
                        metric=kwargs.get("metric", "val_rmse"), k=kwargs.get("k"))

        def on_trial(trial: Trial) -> None:
            job.report_epoch(trial)
            job.report_progress((trial.index + 1) / n, f"trial {trial.index + 1} of {n} done")
            if user_trial_cb is not None:
                user_trial_cb(trial)

        def on_epoch(i: int, stats) -> None:
            frac = min(stats.epoch / max(epochs[i], 1), 1.0)
            job.report_progress((i + frac) / n, f"trial {i + 1} of {n}: epoch {stats.epoch}")
            if user_epoch_cb is not None:
                user_epoch_cb(i, stats)

        result = run_sweep(train, val, trials, callback=on_trial, epoch_callback=on_epoch,
                           cancel=job.cancel_event, **kwargs)
        job.set_result(result, status="cancelled" if result.status == "cancelled" else None)
        return result
    return fn


def _finite(x) -> bool:
    return isinstance(x, (int, float, np.floating)) and math.isfinite(x)


def _num(x) -> float | None:
    return float(x) if _finite(x) else None


# ---- command line ---------------------------------------------------------------------------
_GRID_DEFAULTS = {"factors": "10,20,40", "lr": "0.005,0.01", "reg": "0.02,0.1", "epochs": "20"}
_RANDOM_DEFAULTS = {"factors": "4:64", "lr": "0.001:0.05", "reg": "0.001:0.2", "epochs": "20"}


def add_sweep_parser(subparsers) -> None:
    """Add ``sweep`` to the CLI's subparsers (called by :func:`mfcore.cli.build_parser`)."""
    from ..cli import (_add_data_args, _add_eval_args, _add_split_args, _nonneg_int,
                       _positive_int, add_fixed_model_args)

    s = subparsers.add_parser(
        "sweep", help="grid or random search over latent size, lr, reg and epochs",
        description="Train one model per configuration on data loaded and split once; report "
                    "each trial, the best configuration and each hyperparameter's importance.")
    _add_data_args(s)
    _add_split_args(s)
    g = s.add_argument_group(
        "search space",
        "Grid (default): comma-separated values, every combination is tried "
        f"(defaults {', '.join(f'--{k} {v}' for k, v in _GRID_DEFAULTS.items())}). "
        "With --random N: LO:HI ranges (log-uniform for factors, lr, reg; uniform for epochs), "
        "comma-separated choices, or one fixed value "
        f"(defaults {', '.join(f'--{k} {v}' for k, v in _RANDOM_DEFAULTS.items())}).")
    g.add_argument("--factors", help="latent sizes")
    g.add_argument("--lr", help="learning rates")
    g.add_argument("--reg", help="regularisation strengths")
    g.add_argument("--epochs", help="epochs per trial")
    g.add_argument("--random", type=_positive_int, metavar="N",
                   help="random search of N trials instead of a grid")
    g.add_argument("--seed", type=_nonneg_int, default=0,
                   help="seeds the split, the models and the random search (0)")
    add_fixed_model_args(s.add_argument_group("fixed hyperparameters"))
    _add_eval_args(s, default_k=None)
    s.add_argument("--metric", choices=list(METRICS), default=None,
                   help="choose the best by val_rmse (default) or precision_at_k (needs --k)")
    s.add_argument("--history-db", help="run history to record every trial in (default: "
                   "$MFX_HISTORY_DB, else ~/.local/share/mfcore/runs.sqlite)")
    s.add_argument("--no-history", action="store_true", help="do not record the trials")
    s.add_argument("--model-dir", help="save every trial's model (.npz) in this folder")
    s.add_argument("--report", help="write a self-contained HTML report of the sweep here")
    s.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    s.add_argument("--quiet", action="store_true", help="no per-trial lines on stderr")
    s.set_defaults(func=cmd_sweep)


def parse_values(name: str, text: str, *, random: bool):
    """A CLI search-space option: ``a,b,c`` values (choices), ``lo:hi`` range, or one value."""
    text = str(text).strip()
    conv = int if name in _INT_PARAMS else float

    def num(s: str):
        try:
            v = conv(s.strip())
        except ValueError:
            kind = "an integer" if conv is int else "a number"
            raise ConfigError(f"--{name}: expected {kind}, got {s.strip()!r}") from None
        if conv is float and not math.isfinite(v):
            raise ConfigError(f"--{name}: expected a finite number, got {s.strip()!r}")
        return v

    if ":" in text:
        if not random:
            raise ConfigError(f"--{name} {text}: ranges (LO:HI) are for --random; a grid takes "
                              f"comma-separated values")
        lo, _, hi = text.partition(":")
        return Range(float(num(lo)), float(num(hi)), log=_LOG_DEFAULT[name])
    values = [num(p) for p in text.split(",") if p.strip()]
    if not values:
        raise ConfigError(f"--{name}: no values given")
    if random:
        return values if len(values) > 1 else values[0]
    return values


def cmd_sweep(args) -> dict:
    """``python -m mfcore sweep``: load and split once, run the trials, report."""
    from ..cli import _load, _say, _split

    t_wall = time.perf_counter()
    random = args.random is not None
    defaults = _RANDOM_DEFAULTS if random else _GRID_DEFAULTS
    space = {n: (getattr(args, n) or defaults[n]) for n in SWEPT}
    parsed = {n: parse_values(n, v, random=random) for n, v in space.items()}
    if random:
        trials = random_trials(args.random, seed=args.seed, **parsed)
    else:
        trials = grid_trials(**parsed)
    metric = args.metric or "val_rmse"
    if metric == "precision_at_k" and not args.k:
        raise ConfigError("--metric precision_at_k needs --k")
    base = dict(init_std=args.init_std, biased=args.biased, neg_ratio=args.neg_ratio,
                neg_sampling=args.neg_sampling, seed=args.seed, threads=args.threads,
                early_stopping=args.early_stopping, patience=args.patience)
    history = None
    if not args.no_history:
        from ..history import RunHistory
        history = RunHistory(args.history_db)
        history.ensure()  # an unusable file fails now, before loading anything

    t_load = time.perf_counter()
    data = _load(args)
    sp = _split(data, args, args.seed)
    load_seconds = time.perf_counter() - t_load
    if not args.quiet:
        _say(f"{len(trials)} trials ({'random search' if random else 'grid'}) on "
             f"{len(sp.train):,} training / {len(sp.val) if sp.val is not None else 0:,} "
             f"validation rows")

    def report(t: Trial) -> None:
        if args.quiet:
            return
        extra = (f"  p@{args.k} {_fmt(t.precision_at_k)}" if args.k else "")
        _say(f"trial {t.index + 1:3d}/{len(trials)}  k={t.params['factors']:<4d} "
             f"lr={t.params['lr']:<9.4g} reg={t.params['reg']:<9.4g} "
             f"epochs={t.params['epochs']:<4d} {t.status:<13s} val RMSE {_fmt(t.val_rmse)}"
             f"{extra}  {t.seconds:.2f}s")

    ranking = {"definition": args.definition, "direction": args.direction}
    if args.sample:
        ranking["sample"] = args.sample
    res = run_sweep(sp.train, sp.val, trials, data=data, base_params=base, metric=metric,
                    k=args.k, ranking=ranking if args.k else None, history=history,
                    split_kind=sp.kind, kind="random" if random else "grid",
                    model_dir=args.model_dir, callback=report, space=space)
    out = res.to_dict()
    out["load_seconds"] = load_seconds
    out["wall_seconds"] = time.perf_counter() - t_wall
    out["sweep_seconds"] = res.wall_seconds
    if history is not None:
        out["history_db"] = str(history.path)
    if args.report:
        from ..report import sweep_report_html
        Path(args.report).write_text(
            sweep_report_html(res.trials_frame(), res.best, res.importance,
                              {**res.meta, "sweep_id": res.sweep_id, "status": res.status,
                               "wall_seconds": out["wall_seconds"]}), encoding="utf-8")
        out["report"] = str(args.report)
    for w in res.warnings:
        _say(f"warning: {w}")
    if not args.json:
        _print_table(res, args.k)
    return out


def _fmt(x, digits: int = 4) -> str:
    return "—" if x is None or not _finite(x) else f"{x:.{digits}f}"


def _print_table(res: SweepResult, k) -> None:
    frame = res.trials_frame()
    cols = ["trial", *SWEPT, "status", "val_rmse", "train_rmse"]
    if k:
        cols.append("precision_at_k")
    cols.append("seconds")
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(frame[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if res.best:
        b = res.best
        print(f"best ({res.metric}): factors={b['params']['factors']} lr={b['params']['lr']:g} "
              f"reg={b['params']['reg']:g} epochs={b['params']['epochs']}  val RMSE "
              f"{_fmt(b['val_rmse'])}" + (f"  precision@{k} {_fmt(b['precision_at_k'])}"
                                          if k else ""))
    else:
        print("best: none (no trial finished normally)")
    if res.importance:
        print("importance (eta²): " + ", ".join(f"{p} {v:.2f}"
                                                  for p, v in res.importance.items()))
    if res.status == "cancelled":
        print(f"cancelled after {len(res.trials)} of {res.n_planned} trials")

"""Running a sweep: one model per trial on data prepared once.

:func:`run_sweep` trains one :class:`~mfcore.train.MFModel` per trial on the same
:class:`~mfcore.prepare.Prepared` split (the numba kernels are compiled once per process, so a
trial costs only its training), scores it with :func:`mfcore.runs.score_run` — the scoring of
every training run —, records it in the run store under a shared sweep id and reports it
through ``callback``. A ``threading.Event`` cancel stops the sweep within a fraction of a second;
the finished trials are kept (the interrupted one is dropped). Diverged and early-stopped trials
are marked, never fatal; diverged ones are not candidates for the best configuration.
"""
from __future__ import annotations

import functools
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import ConfigError, MFError
from ..prepare import Prepared
from ..runs import failed_run, score_run
from .importance import eta_squared
from .results import METRICS, SweepResult, Trial, best_trial, new_sweep_id, trials_frame
from .space import SWEPT

__all__ = ["run_sweep"]


def run_sweep(prepared: Prepared, trials: Sequence[dict], *, base_params: dict | None = None,
              metric: str = "val_rmse", k: int | None = None, ranking: dict | None = None,
              history=None, sweep_id: str | None = None, kind: str = "custom", model_dir=None,
              callback: Callable[[Trial], None] | None = None,
              epoch_callback: Callable[[int, Any], None] | None = None,
              cancel: threading.Event | None = None, space: dict | None = None,
              data_info: dict | None = None) -> SweepResult:
    """Train and score one model per trial on the same, already prepared, data.

    Parameters
    ----------
    prepared : Prepared
        The data and its split (:func:`mfcore.prepare.prepare`); validation rows are required.
    trials : sequence of dict
        Hyperparameters per trial (from :func:`grid_trials` / :func:`random_trials`, or any
        MFModel keywords).
    base_params : dict, optional
        MFModel keywords shared by every trial (seed, threads, early_stopping, ...); a trial's
        own keys win. ``threads`` defaults to 1 (deterministic).
    metric : {'val_rmse', 'precision_at_k'}
        How the best trial is chosen and what the importance explains.
    k : int, optional
        Measure precision/recall/NDCG@k per trial (required for ``metric='precision_at_k'``).
    ranking : dict, optional
        ``definition``, ``direction``, ``sample`` of :func:`mfcore.runs.score_run`.
    history : RunHistory, optional
        Record every trial there (source 'sweep') and the sweep itself. A history that cannot be
        used raises before the first trial; a failed write later only adds a warning.
    sweep_id : str, optional
        Default :func:`new_sweep_id`.
    kind : {'grid', 'random', 'custom'}
    model_dir : str or Path, optional
        Save each trial's model there as ``<sweep_id>-tNNN.npz`` (path stored in the history).
    callback, epoch_callback : callable, optional
        ``callback(trial)`` after each finished trial, ``epoch_callback(trial_index,
        EpochStats)`` after every epoch of every trial (both from the sweep's thread).
    cancel : threading.Event, optional
        When set, the running trial stops and is dropped; the finished trials are kept.
    space, data_info : dict, optional
        The search space as described (kept in ``meta``); added to the dataset summary stored
        with each run (e.g. ``{'label': 'My plays'}``).

    Returns
    -------
    SweepResult

    Raises
    ------
    ConfigError
        No validation rows, an unknown metric, precision@k without ``k``, invalid
        hyperparameters in any trial (checked before the first trial runs).
    ResourceError, HistoryError
        The largest trial would not fit in memory; the run history file is unusable.
    """
    t_start = time.perf_counter()
    models = _models(prepared, trials, metric=metric, k=k, base_params=base_params)
    sweep = _Sweep(prepared, sweep_id=sweep_id or new_sweep_id(), k=k, ranking=ranking or {},
                   history=history, model_dir=model_dir, epoch_callback=epoch_callback,
                   cancel=cancel or threading.Event(), data_info=data_info or {})
    meta = {"data": sweep.data_summary(), "split": prepared.split.kind,
            "n_train": len(prepared.train), "n_val": len(prepared.val),
            "fixed_params": {p: v for p, v in models[0].params.items() if p not in SWEPT},
            "k": k, "ranking": dict(ranking or {}), "space": space or {}, "kind": kind,
            "metric": metric}
    if history is not None:
        history.start_sweep(sweep.sweep_id, kind=kind, metric=metric, n_planned=len(models),
                            config={**meta, "trials": [dict(t) for t in trials]})
    done: list[Trial] = []
    status = "done"
    for index, model in enumerate(models):
        trial = None if sweep.cancel.is_set() else sweep.run_trial(index, model)
        if trial is None:
            status = "cancelled"
            break
        done.append(trial)
        if callback is not None:
            callback(trial)
    return sweep.finish(done, status=status, kind=kind, metric=metric, n_planned=len(models),
                        meta=meta, seconds=time.perf_counter() - t_start)


def _models(prepared: Prepared, trials: Sequence[dict], *, metric: str, k: int | None,
            base_params: dict | None) -> list:
    """One unfitted model per trial; every check that can fail does so before training."""
    from ..train import MFModel, check_memory

    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    if metric == "precision_at_k" and not k:
        raise ConfigError("choosing the best trial by precision@k needs k")
    if prepared.val is None or len(prepared.val) == 0:
        raise ConfigError("a sweep needs validation rows to compare trials: use a split with a "
                          "validation fraction > 0")
    if not trials:
        raise ConfigError("the sweep has no trials")
    base = {"threads": 1, **(base_params or {})}
    models = [MFModel(**{**base, **t}) for t in trials]  # ConfigError before anything runs
    train = prepared.train
    check_memory(train.n_users, train.n_items, len(train),
                 max(m.params["factors"] for m in models),
                 any(m.params["early_stopping"] for m in models))
    return models


class _Sweep:
    """The state one sweep's trials share: data, scoring options, where results go."""

    def __init__(self, prepared: Prepared, *, sweep_id: str, k, ranking: dict, history,
                 model_dir, epoch_callback, cancel: threading.Event, data_info: dict) -> None:
        self.prepared, self.sweep_id, self.k, self.ranking = prepared, sweep_id, k, ranking
        self.history, self.epoch_callback, self.cancel = history, epoch_callback, cancel
        self.data_info = data_info
        self.model_dir = Path(model_dir) if model_dir is not None else None
        if self.model_dir is not None:
            self.model_dir.mkdir(parents=True, exist_ok=True)
        self.warnings: list[str] = []

    def data_summary(self) -> dict:
        return {**self.prepared.summary(), **self.data_info}

    def run_trial(self, index: int, model) -> Trial | None:
        """Train, score, save and record one trial; None when the sweep was cancelled in it."""
        t0 = time.perf_counter()
        on_epoch = (None if self.epoch_callback is None
                    else functools.partial(self.epoch_callback, index))
        p = self.prepared
        try:
            model.fit(p.train, p.val, callback=on_epoch, cancel=self.cancel)
        except MFError as exc:
            record = failed_run(model, p, str(exc))
        else:
            if model.status_ == "cancelled":
                return None
            record = score_run(model, p, k=self.k, fit_seconds=time.perf_counter() - t0,
                               cancel=self.cancel, **self.ranking)
            if self.cancel.is_set():
                return None
        trial = Trial.from_record(index, record)
        if record.status != "failed":
            trial.model_path = self._save(model, index)
        trial.seconds = time.perf_counter() - t0
        record.extra.update(trial=index + 1, seconds=trial.seconds)
        record.data.update(self.data_info)
        trial.run_id = self._record(record, trial)
        return trial

    def _save(self, model, index: int) -> str | None:
        if self.model_dir is None:
            return None
        from ..modelio import save_model

        path = self.model_dir / f"{self.sweep_id}-t{index + 1:03d}.npz"
        try:
            save_model(model, path, data=self.prepared.display)
        except (MFError, OSError) as exc:
            self.warnings.append(f"trial {index + 1}: model not saved ({exc})")
            return None
        return str(path.resolve())

    def _record(self, record, trial: Trial) -> int | None:
        if self.history is None:
            return None
        try:
            return self.history.record(record, source="sweep", model_path=trial.model_path,
                                       sweep_id=self.sweep_id)
        except MFError as exc:
            self.warnings.append(f"trial {trial.index + 1}: not recorded in the run history "
                                 f"({exc})")
            return None

    def finish(self, done: list, *, status: str, kind: str, metric: str, n_planned: int,
               meta: dict, seconds: float) -> SweepResult:
        """The result: best trial and importance over ``done``; the sweep's row completed."""
        best = best_trial(done, metric)
        result = SweepResult(sweep_id=self.sweep_id, kind=kind, metric=metric, status=status,
                             trials=done, n_planned=n_planned,
                             best=best.to_dict() if best is not None else None,
                             importance=eta_squared(trials_frame(done), metric),
                             wall_seconds=seconds, meta=meta, warnings=self.warnings)
        if self.history is not None:
            try:
                self.history.finish_sweep(self.sweep_id, status=status, summary={
                    "best": result.best, "importance": result.importance,
                    "wall_seconds": result.wall_seconds, "n_trials": len(done)})
            except MFError as exc:
                self.warnings.append(f"sweep summary not recorded in the run history ({exc})")
        return result

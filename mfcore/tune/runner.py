"""Running a study: Optuna asks, trials run in threads or on a Dask cluster, the driver tells.

:func:`run_study` is the driver. It holds the Optuna study (in memory), keeps as many trials in
flight as the backend has slots (:mod:`mfcore.tune.backends`), feeds each trial's per-epoch
figures to the pruner as they arrive and stops the trials it prunes, records every finished
trial in the run store as it finishes (so a study can be reopened and extended) and reports it
through ``callback``. A ``threading.Event`` cancel stops the running trials (dropped) and the
queued ones (never started); the finished trials are kept.
"""
from __future__ import annotations

import concurrent.futures
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import MFError
from ..prepare import Prepared
from ..runs import RunRecord
from .backends import default_cluster, make_backend
from .results import SweepResult, Trial, best_trial, new_sweep_id
from .setup import StudySetup, plan_study
from .study import new_study, param_importance
from .trial import TrialData, TrialOutcome

__all__ = ["run_study"]


def run_study(prepared: Prepared, space=None, *, sampler: str = "tpe",
              n_trials: int | None = None, objective: str | None = None,
              pruner: str = "median", seed: int = 0, base_params: dict | None = None,
              ranking: dict | None = None, history=None, sweep_id: str | None = None,
              resume: SweepResult | None = None, cluster: str | None = None, jobs: int = 1,
              model_dir=None, callback: Callable[[Trial], None] | None = None,
              epoch_callback: Callable[[int, int, float], None] | None = None,
              cancel: threading.Event | None = None, data_info: dict | None = None,
              meta_callback: Callable[[dict], None] | None = None) -> SweepResult:
    """Search the hyperparameters of one solver on data prepared once.

    Parameters
    ----------
    prepared : Prepared
        The data and its split; validation rows are required.
    space : SearchSpace or dict, optional
        Hyperparameter → entry (``"8:256"``, ``"0.01,0.1"``, ``"20"``); the solver's others
        take :func:`~mfcore.tune.space.default_space`.
    sampler : {'tpe', 'random', 'grid'}
    n_trials : int, optional
        Trials to run (default: the whole grid, or 20). With ``resume``: trials to add.
    objective : str, optional
        'val_rmse', 'precision@K', 'recall@K' or 'ndcg@K'; default by the kind of data.
    pruner : {'median', 'halving', 'none'}
    seed : int
        Seeds the sampler and every model, so a study run one trial at a time replays.
    base_params : dict, optional
        MFModel keywords every trial shares (solver, seed, threads, early stopping...).
    ranking : dict, optional
        ``definition``, ``direction``, ``sample`` of the final ranking (:func:`score_run`).
    history : RunHistory, optional
        Record each trial (source 'sweep') and the study; a history that cannot be used raises
        before the first trial, a failed write later only adds a warning.
    sweep_id : str, optional
    resume : SweepResult, optional
        A recorded study (:func:`~mfcore.runstore_sweeps.sweep_from_history`) to extend with
        ``n_trials`` more, with its own settings (``space`` and the rest are then ignored).
    cluster : str, optional
        A Dask scheduler address (``tcp://host:8786``) or ``local:N``; default
        ``$MFX_DASK_SCHEDULER``; none: ``jobs`` threads of this process.
    jobs : int
        Trials at once in local threads.
    model_dir : str or Path, optional
        Save each trial's model there as ``<sweep_id>-tNNN.npz``.
    callback, epoch_callback : callable, optional
        ``callback(trial)`` for each finished trial; ``epoch_callback(number, epoch, value)``
        for each epoch of each trial (both from the calling thread).
    cancel : threading.Event, optional
    data_info : dict, optional
        Added to the dataset summary stored with each run (e.g. ``{'label': 'My plays'}``).
    meta_callback : callable, optional
        Called once before the first trial with the study's settings (:attr:`SweepResult.meta`)
        and ``n_new``, the number of trials it will run.

    Returns
    -------
    SweepResult

    Raises
    ------
    ConfigError
        No validation rows, a bad objective, sampler, pruner, space or hyperparameter (all
        checked before the first trial), an unreachable cluster.
    ResourceError, HistoryError
    """
    t_start = time.perf_counter()
    setup = plan_study(prepared, space, sampler=sampler, n_trials=n_trials,
                       objective=objective, pruner=pruner, seed=seed, base_params=base_params,
                       ranking=ranking, resume=resume)
    sid = resume.sweep_id if resume is not None else (sweep_id or new_sweep_id())
    cluster = cluster if cluster is not None else default_cluster()
    drive = _Driver(prepared, setup, sweep_id=sid, history=history, model_dir=model_dir,
                    data_info=data_info or {}, callback=callback, epoch_callback=epoch_callback,
                    cancel=cancel or threading.Event())
    backend = make_backend(cluster, jobs=jobs, name=f"mfx-{sid}-{uuid.uuid4().hex[:6]}")
    try:
        drive.meta["where"] = backend.describe()
        drive.start_record(resume)
        if meta_callback is not None:
            meta_callback({**drive.meta, "n_new": setup.n_trials})
        status = drive.run(backend)
    finally:
        backend.close()
    return drive.finish(status, time.perf_counter() - t_start
                        + (resume.wall_seconds if resume is not None else 0.0))


@dataclass
class _Running:
    handle: Any
    trial: Any
    submitted: float
    worker: str | None = None
    pruned: bool = False
    intermediate: dict = field(default_factory=dict)


class _Driver:
    """One study's loop and the state its trials share."""

    def __init__(self, prepared: Prepared, setup: StudySetup, *, sweep_id: str, history,
                 model_dir, data_info: dict, callback, epoch_callback,
                 cancel: threading.Event) -> None:
        self.prepared, self.setup, self.sweep_id = prepared, setup, sweep_id
        self.history, self.data_info, self.cancel = history, data_info, cancel
        self.callback, self.epoch_callback = callback, epoch_callback
        self.model_dir = Path(model_dir) if model_dir is not None else None
        if self.model_dir is not None:
            self.model_dir.mkdir(parents=True, exist_ok=True)
        self.warnings: list[str] = []
        self.done: list[Trial] = list(setup.previous)
        self.meta = setup.meta(prepared, data_info)
        self.study = new_study(setup.objective, setup.space, sampler=setup.sampler,
                               pruner=setup.pruner, seed=setup.seed + len(setup.previous),
                               trials=setup.previous,
                               n_trials=len(setup.previous) + setup.n_trials)

    def start_record(self, resume) -> None:
        if self.history is None:
            return
        n_planned = len(self.setup.previous) + self.setup.n_trials
        if resume is not None:
            self.history.reopen_sweep(self.sweep_id, n_planned=n_planned)
        else:
            self.history.start_sweep(self.sweep_id, kind=self.setup.sampler,
                                     metric=str(self.setup.objective), n_planned=n_planned,
                                     config=self.meta)

    def run(self, backend) -> str:
        """Ask, submit, listen, tell until ``n_trials`` have finished or the study is cancelled."""
        data = backend.share(TrialData(self.prepared, objective=self.setup.objective,
                                       key=self.sweep_id, ranking=self.setup.ranking,
                                       keep_models=self.model_dir is not None))
        dists = self.setup.space.distributions()
        running: dict[int, _Running] = {}
        asked, stopping = 0, False
        while True:
            if self.cancel.is_set() and not stopping:
                stopping = True
                backend.channel.cancel()
                for r in running.values():
                    backend.cancel(r.handle)
            while not stopping and asked < self.setup.n_trials and len(running) < backend.slots():
                ot = self.study.ask(fixed_distributions=dists)
                params = {**self.setup.base, **self.setup.space.fixed, **ot.params}
                running[ot.number] = _Running(backend.submit(data, ot.number, params), ot,
                                              time.perf_counter())
                asked += 1
            if not running:
                return "cancelled" if stopping else "done"
            self._listen(backend, running, timeout=0.05)
            for number in [n for n, r in running.items() if backend.done(r.handle)]:
                self._listen(backend, running, timeout=0)  # its last reports, then its end
                self._settle(backend, running.pop(number), stopping)

    def _listen(self, backend, running: dict, timeout: float) -> None:
        """Feed the trials' messages (waiting up to ``timeout`` s for one) to Optuna, and answer
        each epoch report with the pruner's verdict."""
        for msg in backend.channel.drain(timeout):
            r = running.get(msg[1])
            if r is None:
                continue
            if msg[0] == "start":
                r.worker = msg[2]
                continue
            _, number, epoch, value = msg
            r.intermediate[epoch] = value
            if self.epoch_callback is not None:
                self.epoch_callback(number, epoch, value)
            prune = False
            if not r.pruned and not self.cancel.is_set():
                r.trial.report(value, epoch)
                prune = r.pruned = r.trial.should_prune()
            backend.channel.verdict(number, prune)

    def _settle(self, backend, r: _Running, stopping: bool) -> None:
        """Tell Optuna how the trial ended; record and report it unless it was dropped."""
        import optuna

        State = optuna.trial.TrialState
        try:
            out: TrialOutcome = backend.outcome(r.handle)
        except concurrent.futures.CancelledError:
            out = None
        except Exception as exc:  # noqa: BLE001 - a lost worker, a bug: the trial failed
            if stopping and type(exc).__name__ == "CancelledError":
                out = None
            else:
                out = TrialOutcome(r.trial.number, "failed", self._failed_record(r, exc),
                                   0.0, r.worker or "unknown")
        if out is None or out.status == "cancelled":
            self.study.tell(r.trial, state=State.FAIL)
            return
        rec = out.record
        spec = self.setup.objective
        value = getattr(rec, spec.record_field, None) if rec.status not in (
            "failed", "diverged", "pruned") else None
        if rec.status == "pruned":
            inter = out.intermediate or r.intermediate
            value = inter[max(inter)] if inter else None
            self.study.tell(r.trial, state=State.PRUNED)
            state = "pruned"
        elif value is not None and value == value:
            self.study.tell(r.trial, float(value))
            state = "complete"
        else:
            if rec.status == "diverged":
                at = (rec.diverged_at or {}).get("epoch")
                rec.extra.setdefault("error", f"diverged in epoch {at} (values went non-finite); "
                                              "a smaller learning rate may train")
            elif rec.status != "failed":
                rec.extra.setdefault("error", f"no {spec.label} for this model")
            self.study.tell(r.trial, state=State.FAIL)
            state, value = "failed", None
        trial = self._trial(r, out, state, value)
        self.done.append(trial)
        if self.callback is not None:
            self.callback(trial)

    def _failed_record(self, r: _Running, exc: BaseException) -> RunRecord:
        params = {**self.setup.base, **self.setup.space.fixed, **r.trial.params}
        where = f" on {r.worker}" if r.worker else ""
        msg = str(exc) if isinstance(exc, MFError) else \
            f"{type(exc).__name__}{where}: {exc}".rstrip(": ")
        return RunRecord(status="failed", params=params, data=self.prepared.summary(),
                         split=self.prepared.split.kind, n_users=self.prepared.train.n_users,
                         n_items=self.prepared.train.n_items, n_train=len(self.prepared.train),
                         n_val=len(self.prepared.val), extra={"error": msg})

    def _trial(self, r: _Running, out: TrialOutcome, state: str, value) -> Trial:
        rec = out.record
        wall = time.perf_counter() - r.submitted
        trial = Trial(number=r.trial.number, params=dict(r.trial.params), state=state,
                      value=value, status=rec.status,
                      **{f: getattr(rec, f) for f in ("val_rmse", "train_rmse", "precision_at_k",
                                                      "recall_at_k", "ndcg_at_k")},
                      epochs_run=rec.epochs_run, best_epoch=rec.best_epoch, seconds=out.seconds,
                      overhead_seconds=max(wall - out.seconds, 0.0) if out.seconds else None,
                      worker=out.worker or r.worker, error=rec.extra.get("error"),
                      intermediate=dict(out.intermediate or r.intermediate))
        if out.model is not None and self.model_dir is not None:
            trial.model_path = self._save(out.model, trial.number)
        rec.extra.update(trial=trial.number + 1, state=state, value=value, worker=trial.worker,
                         seconds=trial.seconds, objective=str(self.setup.objective),
                         data_loads=out.data_loads)
        rec.data.update(self.data_info)
        trial.run_id = self._record(rec, trial)
        return trial

    def _save(self, model, number: int) -> str | None:
        from ..modelio import save_model

        path = self.model_dir / f"{self.sweep_id}-t{number + 1:03d}.npz"
        try:
            save_model(model, path, data=self.prepared.display)
        except (MFError, OSError) as exc:
            self.warnings.append(f"trial {number + 1}: model not saved ({exc})")
            return None
        return str(path.resolve())

    def _record(self, record: RunRecord, trial: Trial) -> int | None:
        if self.history is None:
            return None
        try:
            return self.history.record(record, source="sweep", model_path=trial.model_path,
                                       sweep_id=self.sweep_id)
        except MFError as exc:
            self.warnings.append(f"trial {trial.number + 1}: not recorded in the run history "
                                 f"({exc})")
            return None

    def finish(self, status: str, seconds: float) -> SweepResult:
        """The result: best trial and importances over every trial; the study's row completed."""
        setup = self.setup
        best = best_trial(self.done, setup.objective)
        result = SweepResult(
            sweep_id=self.sweep_id, sampler=setup.sampler, objective=str(setup.objective),
            status=status, trials=sorted(self.done, key=lambda t: t.number),
            n_planned=len(setup.previous) + setup.n_trials,
            best=best.to_dict() if best is not None else None,
            importance=param_importance(self.study, list(setup.space.dims)),
            wall_seconds=seconds, meta=self.meta, warnings=self.warnings)
        if self.history is not None:
            try:
                self.history.finish_sweep(self.sweep_id, status=status, summary={
                    "best": result.best, "importance": result.importance,
                    "wall_seconds": result.wall_seconds, "n_trials": len(self.done)})
            except MFError as exc:
                self.warnings.append(f"study summary not recorded in the run history ({exc})")
        return result

"""A study as a background job of :class:`ui.jobs.JobRegistry` (the Tune page's)."""
from __future__ import annotations

from typing import Callable

from ..prepare import Prepared
from .objective import parse_objective
from .results import SweepResult, Trial, best_trial, new_sweep_id
from .runner import run_study

__all__ = ["sweep_job", "live_result"]


def sweep_job(prepared: Prepared, space=None, **kwargs) -> Callable:
    """A :class:`ui.jobs.JobRegistry` job function running :func:`run_study`.

    Each finished :class:`Trial` goes to ``job.report_epoch`` (so the job's ``history`` is the
    list of finished trials), progress counts finished trials, the message names the latest
    epoch reported, the job's cancel event cancels the study, and the :class:`SweepResult` is
    the job's result (job status 'cancelled' when cancelled, else 'done'). ``kwargs`` go to
    :func:`run_study`; ``sweep_id`` is fixed up front and put in the job's info with the number
    of trials planned, the objective and the study's settings (``meta``, for live figures).
    """
    resume = kwargs.get("resume")
    kwargs.setdefault("sweep_id", resume.sweep_id if resume is not None else new_sweep_id())
    user_trial_cb = kwargs.pop("callback", None)

    def fn(job) -> SweepResult:
        job.update_info(kind="sweep", sweep_id=kwargs["sweep_id"], n_trials=0,
                        previous=list(resume.trials) if resume is not None else [])

        def on_start(meta: dict) -> None:
            job.update_info(meta=meta, n_trials=int(meta["n_new"]))

        def on_trial(trial: Trial) -> None:
            job.report_epoch(trial)
            snap = job.snapshot()
            n = max(int(snap.info.get("n_trials") or 1), 1)
            job.report_progress(min(len(snap.history) / n, 1.0),
                                f"trial {trial.number + 1} {trial.state}")
            if user_trial_cb is not None:
                user_trial_cb(trial)

        def on_epoch(number: int, epoch: int, value: float) -> None:
            job.update_info(last_epoch=f"trial {number + 1}: epoch {epoch}")

        result = run_study(prepared, space, callback=on_trial, epoch_callback=on_epoch,
                           cancel=job.cancel_event,
                           meta_callback=on_start, **kwargs)
        job.set_result(result, status="cancelled" if result.status == "cancelled" else None)
        return result
    return fn


def live_result(info: dict, finished: list, *, status: str = "running",
                wall_seconds: float = 0.0) -> SweepResult | None:
    """The study a running job has produced so far (``info`` and ``history`` of its snapshot),
    for live figures; None before it has started its first trial."""
    meta = info.get("meta")
    if meta is None:
        return None
    trials = sorted([*info.get("previous", []), *finished], key=lambda t: t.number)
    spec = parse_objective(meta["objective"], k=int(meta.get("k") or 10))
    best = best_trial(trials, spec)
    result = SweepResult(sweep_id=str(info.get("sweep_id")), sampler=meta["sampler"],
                         objective=meta["objective"], status=status, trials=trials,
                         n_planned=len(info.get("previous", [])) + int(meta.get("n_new") or 0),
                         best=best.to_dict() if best is not None else None, importance={},
                         wall_seconds=wall_seconds, meta=meta)
    if sum(t.state == "complete" for t in trials) >= 3:
        from .study import param_importance, study_of
        result.importance = param_importance(study_of(result), meta.get("searched", []))
    return result

"""A sweep as a background job of :class:`mfcore.jobs.JobRegistry` (the Tune page's)."""
from __future__ import annotations

from typing import Callable, Sequence

from ..prepare import Prepared
from .results import SweepResult, Trial, new_sweep_id
from .runner import run_sweep

__all__ = ["sweep_job"]


def sweep_job(prepared: Prepared, trials: Sequence[dict], **kwargs) -> Callable:
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

        result = run_sweep(prepared, trials, callback=on_trial, epoch_callback=on_epoch,
                           cancel=job.cancel_event, **kwargs)
        job.set_result(result, status="cancelled" if result.status == "cancelled" else None)
        return result
    return fn

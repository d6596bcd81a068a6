"""The Train page's job: one training run in the background, recorded as on the command line."""
from __future__ import annotations

import logging
from typing import Any, Callable

from mfcore.modelkeep import keep_setting
from mfcore.runs import fit_and_record

from .jobs import Job
from .text import error_text

__all__ = ["training_job"]

log = logging.getLogger("mfx.ui.training")


def training_job(model: Any, prepared: Any, *, history: Any = None) -> Callable[[Job], Any]:
    """A job function that trains ``model`` on ``prepared``'s split (the Train page's).

    With ``history`` (a :class:`~mfcore.runstore.RunHistory`) the run is also scored, saved and
    recorded there by :func:`mfcore.runs.fit_and_record`, as ``python -m mfcore train`` does,
    then the keep-models policy prunes older files (:mod:`mfcore.modelkeep`); its id goes to
    ``info['run_id']``, or why it was not recorded to ``info['history_error']``; a run that
    gave its slot up (:meth:`Job.give_up_slot`) says why in its note. Else it only trains.

    Every epoch's :class:`~mfcore.model.EpochStats` goes to ``job.report_epoch``; the job's
    cancel event stops training. The fitted model is the job's result; its status maps to the
    job's (``early_stopped`` is 'done').
    """
    def fn(job: Job) -> Any:
        total = int(model.params["epochs"])
        job.update_info(total_epochs=total)

        def on_epoch(stats: Any) -> None:
            job.report_epoch(stats)
            job.report_progress(len(model.history_) / max(total, 1), f"epoch {stats.epoch}")

        if history is None:
            model.fit(prepared.train, prepared.val, callback=on_epoch, cancel=job.cancel_event)
        else:
            run = fit_and_record(model, prepared, history=history, source="app",
                                 callback=on_epoch, cancel=job.cancel_event, strict=False,
                                 keep_models=keep_setting()[0],
                                 on_fitted=lambda: job.update_info(fitting=False))
            job.update_info(run_id=run.run_id,
                            history_error=error_text(run.error) if run.error else None)
            reason = job.info_value("cancel_reason")
            if reason and run.run_id is not None and model.status_ == "cancelled":
                _note(history, run.run_id, f"Stopped: {reason}.")
        status = {"diverged": "diverged", "cancelled": "cancelled"}.get(model.status_, "done")
        job.set_result(model, status=status)
        return model
    return fn


def _note(history: Any, run_id: int, text: str) -> None:
    try:
        history.annotate(run_id, note=text)
    except Exception:  # the run is recorded; only the note is missing
        log.warning("could not add a note to run %s", run_id, exc_info=True)

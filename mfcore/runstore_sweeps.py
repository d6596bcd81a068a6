"""A sweep recorded in the run store, rebuilt as the :class:`~mfcore.tune.SweepResult` it was.

The trials come from the sweep's runs still in the store (a run deleted on the Runs page is gone
from the sweep too), in trial order; the best trial and the importance are computed from them
with the same functions :func:`~mfcore.tune.run_sweep` uses, so they match what the sweep
reported when none was deleted.
"""
from __future__ import annotations

from .runstore import RunHistory
from .tune.importance import eta_squared
from .tune.results import METRICS, SweepResult, Trial, best_trial, trials_frame
from .tune.space import INT_PARAMS, SWEPT
from .values import finite

__all__ = ["sweep_from_history"]


def sweep_from_history(history: RunHistory, sweep_id: str) -> SweepResult:
    """A recorded sweep rebuilt from the run store, to look at it again later.

    Per-epoch histories are not loaded (``Trial.history`` is empty; see
    :meth:`~mfcore.runstore.RunHistory.get_run`).

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
    trials = sorted((_trial(pos, run) for pos, (_, run) in enumerate(sweep["runs"].iterrows())),
                    key=lambda t: (t.index, t.run_id or 0))
    metric = sweep.get("metric") or meta.get("metric") or "val_rmse"
    if metric not in METRICS:
        metric = "val_rmse"
    best = best_trial(trials, metric)
    status = str(sweep.get("status") or "done")
    n_planned = finite(sweep.get("n_planned"), int) or len(trials)
    created, finished = sweep.get("created"), sweep.get("finished")
    wall = finite(sweep["summary"].get("wall_seconds"))
    if wall is None:
        wall = (float(finished) - float(created) if finished and created
                else float(sum(t.seconds for t in trials)))
    meta.update(created=created, finished=finished, kind=sweep.get("kind") or meta.get("kind"),
                metric=metric)
    return SweepResult(sweep_id=str(sweep["id"]), kind=str(meta.get("kind") or "custom"),
                       metric=metric, status=status, trials=trials, n_planned=n_planned,
                       best=best.to_dict() if best is not None else None,
                       importance=eta_squared(trials_frame(trials), metric),
                       wall_seconds=wall, meta=meta,
                       warnings=_warnings(sweep, status, len(trials), n_planned))


def _trial(pos: int, run) -> Trial:
    """One stored run (a row of ``get_sweep()['runs']``) as the trial it was."""
    m = run["metrics"] if isinstance(run["metrics"], dict) else {}
    number = finite(m.get("trial"), int)
    fit_seconds = finite(run["fit_seconds"]) or 0.0
    return Trial(
        index=number - 1 if number and number >= 1 else pos,
        params={p: finite(run[p], int if p in INT_PARAMS else float) for p in SWEPT},
        status=str(run["status"]),
        **{f: finite(run[f]) for f in ("val_rmse", "val_mae", "train_rmse", "precision_at_k",
                                       "recall_at_k", "ndcg_at_k")},
        epochs_run=finite(run["epochs_run"], int) or 0,
        best_epoch=finite(run["best_epoch"], int),
        fit_seconds=fit_seconds, seconds=finite(m.get("seconds")) or fit_seconds,
        run_id=finite(run["id"], int), model_path=run["model_path"] or None,
        error=m.get("error"))


def _warnings(sweep: dict, status: str, n_trials: int, n_planned: int) -> list[str]:
    out = []
    recorded = finite(sweep["summary"].get("n_trials"), int)
    if recorded is not None and recorded > n_trials:
        out.append(f"{recorded - n_trials} of the sweep's {recorded} trials were deleted from "
                   "the run history; the best and the importance are over the remaining ones.")
    if status == "running":
        out.append(f"This sweep never finished (it is still running, or its server stopped): "
                   f"{n_trials} of {n_planned} trials were recorded.")
    return out

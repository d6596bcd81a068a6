"""A study recorded in the run store, rebuilt as the :class:`~mfcore.tune.SweepResult` it was.

The trials come from the study's runs still in the store (a run deleted on the Runs page is gone
from the study too), in trial order, each with the per-epoch figures its pruner saw; the best
trial and the importances are computed from them as :func:`~mfcore.tune.run_study` does, so they
match what the study reported when none was deleted. The result can be shown again, compared,
or passed to ``run_study(resume=...)`` to extend the study. Sweeps recorded before studies
(grid or random search choosing by 'val_rmse' or 'precision_at_k') are read too.
"""
from __future__ import annotations

from .errors import ConfigError
from .runstore import RunHistory
from .tune.objective import Objective, parse_objective
from .tune.results import SweepResult, Trial, best_trial
from .tune.space import SEARCHED_BY, SearchSpace
from .tune.study import SAMPLERS, param_importance, study_of
from .values import finite

__all__ = ["sweep_from_history"]

_FIGURES = ("val_rmse", "train_rmse", "precision_at_k", "recall_at_k", "ndcg_at_k")


def sweep_from_history(history: RunHistory, sweep_id: str) -> SweepResult:
    """A recorded study rebuilt from the run store, to look at it again or extend it.

    Parameters
    ----------
    history : RunHistory
    sweep_id : str

    Returns
    -------
    SweepResult
        ``status`` is the recorded one: 'done', 'cancelled', 'failed', or 'running' for a study
        still running or whose process stopped before it finished. ``meta`` is the stored
        settings plus ``created`` / ``finished`` (unix seconds); ``warnings`` says what differs
        from the original result (deleted trials, unfinished study).

    Raises
    ------
    HistoryError
        The history cannot be read, has no such study, or its settings are damaged.
    """
    sweep = history.get_sweep(sweep_id)
    meta = {k: v for k, v in sweep["config"].items() if k != "trials"}
    sampler = str(sweep.get("kind") or meta.get("sampler") or "grid")
    sampler = sampler if sampler in SAMPLERS else "grid"
    spec = _objective(sweep, meta)
    _upgrade_meta(meta, sampler, spec)
    runs = sweep["runs"]
    inter = _intermediate(history, runs, spec)
    trials = sorted((_trial(pos, run, spec, meta["searched"], inter.get(int(run["id"]), {}))
                     for pos, (_, run) in enumerate(runs.iterrows())),
                    key=lambda t: (t.number, t.run_id or 0))
    status = str(sweep.get("status") or "done")
    n_planned = finite(sweep.get("n_planned"), int) or len(trials)
    created, finished = sweep.get("created"), sweep.get("finished")
    wall = finite(sweep["summary"].get("wall_seconds"))
    if wall is None:
        wall = (float(finished) - float(created) if finished and created
                else float(sum(t.seconds for t in trials)))
    meta.update(created=created, finished=finished, objective=str(spec), sampler=sampler)
    best = best_trial(trials, spec)
    result = SweepResult(sweep_id=str(sweep["id"]), sampler=sampler, objective=str(spec),
                         status=status, trials=trials, n_planned=n_planned,
                         best=best.to_dict() if best is not None else None, importance={},
                         wall_seconds=wall, meta=meta,
                         warnings=_warnings(sweep, status, len(trials), n_planned))
    result.importance = param_importance(study_of(result), meta["searched"])
    return result


def _objective(sweep: dict, meta: dict) -> Objective:
    text = sweep.get("metric") or meta.get("objective") or "val_rmse"
    try:
        return parse_objective(text, k=int(meta.get("k") or 10))
    except ConfigError:
        return Objective("val_rmse")


def _upgrade_meta(meta: dict, sampler: str, spec: Objective) -> None:
    """Fill in what a sweep recorded before studies lacks (solver, kind, space, searched)."""
    fixed = meta.get("fixed_params") or {}
    solver = meta.get("solver") or fixed.get("solver") or "sgd"
    kind = meta.get("kind") if meta.get("kind") in ("ratings", "counts", "binary") else \
        (meta.get("data") or {}).get("kind", "ratings")
    kind = kind if kind in ("ratings", "counts", "binary") else "ratings"
    space = {n: v for n, v in (meta.get("space") or {}).items() if n in SEARCHED_BY[solver]}
    try:
        searched = list(SearchSpace(space, solver=solver, kind=kind, grid=sampler == "grid").dims)
    except ConfigError:
        space, searched = {}, list(SearchSpace({}, solver=solver, kind=kind,
                                                grid=sampler == "grid").dims)
    meta.update(solver=solver, kind=kind, space=space, searched=meta.get("searched") or searched,
                direction=spec.direction, k=spec.k if spec.ranking else meta.get("k"))
    meta.setdefault("pruner", "none")
    meta.setdefault("reference", {})


def _intermediate(history: RunHistory, runs, spec: Objective) -> dict:
    """Run id → {epoch: the objective's per-epoch figure} (what the pruner saw)."""
    frame = history.histories(int(i) for i in runs["id"])
    out: dict = {}
    for run_id, epoch, value in zip(frame["run_id"], frame["epoch"], frame[spec.epoch_field]):
        v = finite(value)
        if v is not None:
            out.setdefault(int(run_id), {})[int(epoch)] = v
    return out


def _trial(pos: int, run, spec: Objective, searched: list, inter: dict) -> Trial:
    """One stored run (a row of ``get_sweep()['runs']``) as the trial it was."""
    m = run["metrics"] if isinstance(run["metrics"], dict) else {}
    params = run["params"] if isinstance(run.get("params"), dict) else {}
    number = finite(m.get("trial"), int)
    status = str(run["status"])
    figures = {f: finite(run[f]) for f in _FIGURES}
    state = m.get("state") or ("complete" if status in ("fitted", "early_stopped") else
                               "pruned" if status == "pruned" else "failed")
    value = finite(m.get("value")) if "value" in m else figures.get(spec.record_field)
    if state == "failed":
        value = None
    return Trial(number=number - 1 if number and number >= 1 else pos,
                 params={p: params.get(p, run.get(p)) for p in searched}, state=state,
                 value=value, status=status, **figures,
                 epochs_run=finite(run["epochs_run"], int) or 0,
                 best_epoch=finite(run["best_epoch"], int),
                 seconds=finite(m.get("seconds")) or finite(run["fit_seconds"]) or 0.0,
                 worker=m.get("worker"), run_id=finite(run["id"], int),
                 model_path=run["model_path"] or None, error=m.get("error"),
                 intermediate=inter)


def _warnings(sweep: dict, status: str, n_trials: int, n_planned: int) -> list[str]:
    out = []
    recorded = finite(sweep["summary"].get("n_trials"), int)
    if recorded is not None and recorded > n_trials:
        out.append(f"{recorded - n_trials} of the study's {recorded} trials were deleted from "
                   "the run history; the best and the importances are over the remaining ones.")
    if status == "running":
        out.append(f"This study never finished (it is still running, or its server stopped): "
                   f"{n_trials} of {n_planned} trials were recorded.")
    return out

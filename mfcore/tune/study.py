"""Optuna, as this tool uses it: samplers, pruners, an in-memory study rebuilt from trials.

The study lives in the driver's memory (``optuna.storages.InMemoryStorage``); what persists is
the run store (each trial a run, the study's settings in its sweep row), from which
:func:`study_of` rebuilds an equivalent Optuna study — to draw its plots, compute importances or
extend it with more trials. Optuna is imported here only, inside the functions.
"""
from __future__ import annotations

import math
from typing import Sequence

from ..errors import ConfigError
from .objective import Objective
from .results import SweepResult, Trial
from .space import SearchSpace

__all__ = ["SAMPLERS", "PRUNERS", "make_sampler", "make_pruner", "new_study", "add_trials",
           "param_importance", "study_of"]

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "halving", "none")
#: Trials the median pruner waits for before it prunes; epochs it ignores (the first are noisy
#: for every trial).
STARTUP_TRIALS = 5
WARMUP_EPOCHS = 2


def tpe_startup(n_trials: int) -> int:
    """Random trials before TPE models the space: a quarter of the study's budget, between 3 and
    Optuna's default 10 (a small budget spent on random draws leaves TPE nothing to refine)."""
    return min(10, max(3, n_trials // 4))


def _optuna():
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def make_sampler(name: str, space: SearchSpace, seed: int, n_trials: int = 40):
    """TPE (seeded; :func:`tpe_startup` random trials first), random search, or the grid of
    ``space``. ``n_trials`` is the study's whole budget."""
    optuna = _optuna()
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=tpe_startup(n_trials))
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "grid":
        class Grid(optuna.samplers.GridSampler):
            def after_trial(self, *args, **kwargs) -> None:
                """Nothing: Optuna's stops ``optimize`` once the grid is done, which an
                ask-and-tell driver does by itself (it plans exactly the grid's points)."""

        return Grid(space.grid_values() or {"_": [0]}, seed=seed)
    raise ConfigError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")


def make_pruner(name: str):
    """The median rule, successive halving (Optuna's defaults), or none."""
    optuna = _optuna()
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=STARTUP_TRIALS,
                                           n_warmup_steps=WARMUP_EPOCHS)
    if name == "halving":
        return optuna.pruners.SuccessiveHalvingPruner()
    if name == "none":
        return optuna.pruners.NopPruner()
    raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}, got {name!r}")


def new_study(objective: Objective, space: SearchSpace, *, sampler: str, pruner: str,
              seed: int, trials: Sequence[Trial] = (), n_trials: int = 40):
    """A fresh in-memory study, holding ``trials`` already (a study being extended);
    ``n_trials`` is its whole budget."""
    optuna = _optuna()
    study = optuna.create_study(direction=objective.direction,
                                sampler=make_sampler(sampler, space, seed, n_trials),
                                pruner=make_pruner(pruner))
    add_trials(study, space, trials)
    return study


def add_trials(study, space: SearchSpace, trials: Sequence[Trial]) -> None:
    """Add finished trials to ``study`` (their params must lie in ``space``)."""
    optuna = _optuna()
    dists = space.distributions()
    states = {"complete": optuna.trial.TrialState.COMPLETE,
              "pruned": optuna.trial.TrialState.PRUNED, "failed": optuna.trial.TrialState.FAIL}
    frozen = []
    for t in sorted(trials, key=lambda t: t.number):
        params = {n: t.params[n] for n in dists if t.params.get(n) is not None}
        if len(params) != len(dists) or not all(_inside(dists[n], v) for n, v in params.items()):
            continue  # a trial from another space (the study's settings were changed)
        state = states[t.state] if t.state in states else states["failed"]
        value = t.value if state == states["complete"] else None
        if state == states["complete"] and (value is None or not math.isfinite(value)):
            state, value = states["failed"], None
        frozen.append(optuna.trial.create_trial(
            state=state, value=value, params=params, distributions=dict(dists),
            intermediate_values={int(k): float(v) for k, v in t.intermediate.items()},
            user_attrs={"run_id": t.run_id, "worker": t.worker}))
    study.add_trials(frozen)


def _inside(dist, value) -> bool:
    choices = getattr(dist, "choices", None)
    if choices is not None:
        return value in choices
    return dist.low <= value <= dist.high


def param_importance(study, params: Sequence[str]) -> dict[str, float]:
    """Each hyperparameter's share in reaching the study's best values (PED-ANOVA, Optuna's
    default evaluator: no model to fit), summing to 1; {} with fewer than 3 complete trials or
    fewer than 2 params that vary."""
    optuna = _optuna()
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    varied = [p for p in params if len({repr(t.params.get(p)) for t in complete}) > 1]
    if len(complete) < 3 or not varied:
        return {}
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            imp = optuna.importance.get_param_importances(study, params=varied)
        except (RuntimeError, ValueError, ZeroDivisionError):
            return {}
    return {p: float(v) for p, v in imp.items() if math.isfinite(v)}


def study_of(result: SweepResult):
    """An Optuna study equivalent to a recorded or running ``result`` (for plots)."""
    meta = result.meta
    space = SearchSpace(meta.get("space"), solver=meta.get("solver", "sgd"),
                        kind=meta.get("kind", "ratings"), grid=result.sampler == "grid")
    return new_study(result.objective_spec, space, sampler="random", pruner="none",
                     seed=int(meta.get("seed") or 0), trials=result.trials)

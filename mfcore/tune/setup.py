"""A study's settings, checked before anything runs: :func:`plan_study` → :class:`StudySetup`."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError
from ..prepare import Prepared
from ..train.presets import SOLVER_BY_KIND
from .objective import Objective, parse_objective
from .results import SweepResult, Trial
from .space import MAX_TRIALS, SearchSpace
from .study import PRUNERS, SAMPLERS

__all__ = ["StudySetup", "plan_study", "DEFAULT_TRIALS"]

#: Trials of a TPE or random study when none is asked for.
DEFAULT_TRIALS = 20


@dataclass
class StudySetup:
    """Everything a study's driver needs to know, validated."""

    objective: Objective
    space: SearchSpace
    sampler: str
    pruner: str
    seed: int
    n_trials: int
    base: dict
    ranking: dict
    previous: list = field(default_factory=list)

    def meta(self, prepared: Prepared, data_info: dict) -> dict:
        """The study's settings as the run store keeps them (``SweepResult.meta``)."""
        return {"solver": self.space.solver, "kind": self.space.kind,
                "space": self.space.text(), "fixed_params": {**self.base, **self.space.fixed},
                "searched": list(self.space.dims), "objective": str(self.objective),
                "direction": self.objective.direction, "k": self.objective.k,
                "sampler": self.sampler, "pruner": self.pruner, "seed": self.seed,
                "ranking": dict(self.ranking),
                "reference": popularity_reference(prepared, self.objective, self.ranking),
                "data": {**prepared.summary(), **data_info}, "split": prepared.split.kind,
                "n_train": len(prepared.train), "n_val": len(prepared.val)}


def popularity_reference(prepared: Prepared, objective: Objective, ranking: dict) -> dict:
    """The popularity baseline's value of a ranking objective (what every trial should beat),
    scored like the trials; {} for the RMSE."""
    if not objective.ranking:
        return {}
    from ..evaluate.ranking import popularity_model
    from ..runs import ranking_metrics

    pop = popularity_model(prepared.train)
    res = ranking_metrics(pop, prepared, k=objective.k, **ranking)
    return {"popularity": res[objective.record_field]}


def plan_study(prepared: Prepared, space=None, *, sampler: str, n_trials: int | None,
               objective: str | None, pruner: str, seed: int, base_params: dict | None,
               ranking: dict | None, resume: SweepResult | None = None) -> StudySetup:
    """Check every setting (and every hyperparameter at both ends of every range) now.

    Raises
    ------
    ConfigError
        Naming the setting at fault.
    """
    from ..train import MFModel, check_memory

    if prepared.val is None or len(prepared.val) == 0:
        raise ConfigError("a study compares trials on validation rows: use a split with a "
                          "validation fraction > 0")
    previous: list[Trial] = []
    if resume is not None:
        meta = resume.meta
        if (meta.get("data") or {}).get("fingerprint") not in (None, prepared.fingerprint):
            raise ConfigError(f"study {resume.sweep_id} was run on other data (fingerprint "
                              f"{meta['data']['fingerprint']}); load that dataset to extend it")
        space, sampler, pruner = meta.get("space"), resume.sampler, meta.get("pruner", "none")
        objective, seed = resume.objective, int(meta.get("seed") or 0)
        base_params, ranking = dict(meta.get("fixed_params") or {}), meta.get("ranking")
        previous = list(resume.trials)
    if sampler not in SAMPLERS:
        raise ConfigError(f"--sampler must be one of {', '.join(SAMPLERS)}, got {sampler!r}")
    if pruner not in PRUNERS:
        raise ConfigError(f"--pruner must be one of {', '.join(PRUNERS)}, got {pruner!r}")
    kind = prepared.train.kind
    base = {"threads": 1, "seed": int(seed), **(base_params or {})}
    solver = base.get("solver") or SOLVER_BY_KIND[kind]
    base["solver"] = solver
    k = int(base.get("eval_k") or 10)
    spec = parse_objective(objective, kind=kind, k=k)
    if spec.name == "val_rmse" and solver == "als":
        raise ConfigError("--objective val_rmse: implicit ALS fits preferences, not the values, "
                          "so its RMSE means nothing; choose ndcg@K or precision@K, or the sgd "
                          "solver")
    if not isinstance(space, SearchSpace):
        space = SearchSpace(space, solver=solver, kind=kind, grid=sampler == "grid")
    base = {n: v for n, v in base.items() if n not in space.dims and n not in space.fixed}
    base.update(spec.model_params())
    if not spec.ranking:
        base.setdefault("eval_sample", 0)  # no per-epoch ranking to pay for
    models = [MFModel(**{**base, **conf}) for conf in space.corners()]  # ConfigError now
    n_trials = _n_trials(n_trials, sampler, space, len(previous))
    train = prepared.train
    check_memory(train.n_users, train.n_items, len(train),
                 max(m.params["factors"] for m in models),
                 any(m.params["early_stopping"] for m in models))
    return StudySetup(objective=spec, space=space, sampler=sampler, pruner=pruner,
                      seed=int(seed), n_trials=n_trials, base=base, ranking=dict(ranking or {}),
                      previous=previous)


def _n_trials(n: int | None, sampler: str, space: SearchSpace, done: int) -> int:
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise ConfigError(f"--trials must be an integer >= 1, got {n!r}")
    if sampler == "grid":
        left = space.grid_size() - done
        if left < 1:
            raise ConfigError("every point of this grid has been tried already")
        n = left if n is None else min(n, left)
    n = DEFAULT_TRIALS if n is None else n
    if n + done > MAX_TRIALS:
        raise ConfigError(f"at most {MAX_TRIALS:,} trials are allowed in a study, got "
                          f"{n + done:,}")
    return n

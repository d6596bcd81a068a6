"""Hyperparameter tuning with Optuna: the search space (:mod:`.space`), the objective
(:mod:`.objective`), the driver (:mod:`.runner`), where trials run (:mod:`.backends`: threads or a
Dask cluster), one trial (:mod:`.trial`), the Optuna glue (:mod:`.study`), results
(:mod:`.results`), figures (:mod:`.plots`) and the dashboard's job (:mod:`.job`).

Optuna and Dask are imported only when a study runs or is drawn, so the app starts without them.
A recorded study is read back by :func:`mfcore.runstore_sweeps.sweep_from_history`; the command
line is :mod:`mfcore.cli.sweep`.
"""
from .backends import ENV_VAR as CLUSTER_ENV_VAR
from .backends import default_cluster
from .job import sweep_job
from .objective import Objective, default_objective, parse_objective
from .results import STATES, SweepResult, Trial, best_trial, trials_frame
from .runner import run_study
from .space import (DEFAULT_SPACES, GRID_DEFAULTS, SEARCHABLE, SEARCHED_BY, SearchSpace,
                    default_space, default_text, parse_entry)
from .study import PRUNERS, SAMPLERS

__all__ = ["CLUSTER_ENV_VAR", "DEFAULT_SPACES", "GRID_DEFAULTS", "Objective", "PRUNERS",
           "SAMPLERS", "SEARCHABLE", "SEARCHED_BY", "STATES", "SearchSpace", "SweepResult",
           "Trial", "best_trial", "default_cluster", "default_objective", "default_space",
           "default_text", "parse_entry", "parse_objective", "run_study", "sweep_job",
           "trials_frame"]

"""Hyperparameter tuning with Optuna: the search space (:mod:`.space`), the objective
(:mod:`.objective`), the driver (:mod:`.runner`), where trials run (:mod:`.backends`: threads or a
Dask cluster), one trial (:mod:`.trial`), the Optuna glue (:mod:`.study`), results
(:mod:`.results`), figures (:mod:`.plots`) and the dashboard's job (:mod:`.job`).

Optuna and Dask are imported only when a study runs or is drawn, so the app starts without them;
the names below are imported on first use, so the command line's parser reads the samplers and
the space without the driver.
A recorded study is read back by :func:`mfcore.runstore_sweeps.sweep_from_history`; the command
line is :mod:`mfcore.cli.sweep`.
"""
from .._lazy import lazy_exports

_EXPORTS = {"CLUSTER_ENV_VAR": ".backends:ENV_VAR", "default_cluster": ".backends", "sweep_job": ".job",
            "Objective": ".objective", "default_objective": ".objective",
            "parse_objective": ".objective", "STATES": ".results", "SweepResult": ".results",
            "Trial": ".results", "best_trial": ".results", "trials_frame": ".results",
            "run_study": ".runner", "DEFAULT_SPACES": ".space", "GRID_DEFAULTS": ".space",
            "SEARCHABLE": ".space", "SEARCHED_BY": ".space", "SearchSpace": ".space",
            "default_space": ".space", "default_text": ".space", "parse_entry": ".space",
            "PRUNERS": ".study", "SAMPLERS": ".study"}
__all__ = ["CLUSTER_ENV_VAR", "DEFAULT_SPACES", "GRID_DEFAULTS", "Objective", "PRUNERS",
           "SAMPLERS", "SEARCHABLE", "SEARCHED_BY", "STATES", "SearchSpace", "SweepResult",
           "Trial", "best_trial", "default_cluster", "default_objective", "default_space",
           "default_text", "parse_entry", "parse_objective", "run_study", "sweep_job",
           "trials_frame"]
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

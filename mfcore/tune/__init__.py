"""Hyperparameter tuning: search spaces (:mod:`.space`), the runner (:mod:`.runner`), results
(:mod:`.results`), the dashboard's job (:mod:`.job`) and importance (:mod:`.importance`).

A recorded sweep is read back by :func:`mfcore.runstore_sweeps.sweep_from_history`; the command
line is :mod:`mfcore.cli.sweep`.
"""
from .importance import eta_squared
from .job import sweep_job
from .results import METRICS, SweepResult, Trial, best_trial, trials_frame
from .runner import run_sweep
from .space import (GRID_DEFAULTS, RANDOM_DEFAULTS, SWEPT, Range, default_text, grid_trials,
                    parse_values, random_trials)

__all__ = ["GRID_DEFAULTS", "METRICS", "RANDOM_DEFAULTS", "SWEPT", "Range", "SweepResult",
           "Trial", "best_trial", "default_text", "eta_squared", "grid_trials", "parse_values",
           "random_trials", "run_sweep", "sweep_job", "trials_frame"]

"""Hyperparameter tuning: grid and random sweeps (:mod:`.sweep`) and importance (:mod:`.importance`)."""
from .importance import eta_squared
from .sweep import (METRICS, SWEPT, Range, SweepResult, Trial, grid_trials, random_trials,
                    run_sweep, sweep_job)

__all__ = ["METRICS", "SWEPT", "Range", "SweepResult", "Trial", "eta_squared", "grid_trials",
           "random_trials", "run_sweep", "sweep_job"]

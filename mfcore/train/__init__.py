"""Training: the MFModel estimator, its solvers (SGD and implicit ALS) and the defaults by kind of
data."""
from ..model import EpochStats
from .kernels import warm_up
from .memory import check_memory, memory_estimate
from .model import SOLVERS, MFModel
from .presets import RECIPES, defaults, resolve_params

__all__ = ["RECIPES", "SOLVERS", "EpochStats", "MFModel", "check_memory", "defaults",
           "memory_estimate", "resolve_params", "warm_up"]

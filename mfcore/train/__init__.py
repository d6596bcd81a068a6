"""Training: numba SGD kernels and the MFModel estimator around them."""
from .kernels import warm_up
from .model import EpochStats, MFModel, check_memory, memory_estimate

__all__ = ["EpochStats", "MFModel", "check_memory", "memory_estimate", "warm_up"]

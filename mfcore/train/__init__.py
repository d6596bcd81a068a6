"""Training: numba SGD kernels and the MFModel estimator around them."""
from .kernels import warm_up
from .model import (EXPLICIT_DEFAULTS, IMPLICIT_DEFAULTS, EpochStats, MFModel, check_memory,
                    memory_estimate, resolve_params)

__all__ = ["EXPLICIT_DEFAULTS", "IMPLICIT_DEFAULTS", "EpochStats", "MFModel", "check_memory",
           "memory_estimate", "resolve_params", "warm_up"]

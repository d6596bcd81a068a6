"""Training: the MFModel estimator, its solvers (SGD and implicit ALS) and the defaults by kind of
data. The names below are imported on first use: :mod:`.presets` (stdlib only) is read by the
command line's parser, which must not compile or import numba."""
from .._lazy import lazy_exports

_EXPORTS = {"EpochStats": "..model", "warm_up": ".kernels", "check_memory": ".memory",
            "memory_estimate": ".memory", "SOLVERS": ".model", "MFModel": ".model",
            "RECIPES": ".presets", "defaults": ".presets", "resolve_params": ".presets"}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

"""mfcore: matrix-factorization recommenders for listening and playlist data.

Data flows load → prepare → split → train → evaluate/recommend; each stage is a subpackage
or module of the same name. Nothing here imports Streamlit; ``import mfcore`` imports no
pandas, numba or Optuna (:class:`Interactions` is imported on first use).
"""
from ._lazy import lazy_exports
from .errors import ConfigError, DataError, MFError, ModelFileError, ResourceError

__all__ = ["ConfigError", "DataError", "Interactions", "MFError", "ModelFileError",
           "ResourceError"]
__getattr__, __dir__ = lazy_exports(__name__, {"Interactions": ".interactions"})

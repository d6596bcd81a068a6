"""mfcore: matrix-factorization recommenders for listening and playlist data.

Data flows load → prepare → split → train → evaluate/recommend; each stage is a subpackage
or module of the same name. Nothing here imports Streamlit.
"""
from .errors import ConfigError, DataError, MFError, ModelFileError, ResourceError
from .interactions import Interactions

__all__ = ["ConfigError", "DataError", "Interactions", "MFError", "ModelFileError",
           "ResourceError"]

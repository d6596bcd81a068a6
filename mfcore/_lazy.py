"""Package attributes imported on first use (PEP 562), so importing a package stays cheap.

``python -m mfcore`` builds its parser, and ``recommend --user`` answers, without pandas, numba
or Optuna; a package ``__init__`` that imported its heavy modules to re-export their names would
pull them in for every submodule import. :func:`lazy_exports` gives the package a module
``__getattr__`` that imports the submodule holding a name when the name is first asked for
(``from mfcore.train import MFModel`` keeps working).
"""
from __future__ import annotations

import importlib


def lazy_exports(package: str, exports: dict[str, str]):
    """``(__getattr__, __dir__)`` for ``package`` whose public ``name`` lives in submodule
    ``exports[name]`` (relative, e.g. ``'.model'``; ``'.backends:ENV_VAR'`` when the submodule
    calls it otherwise)."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str):
        where = exports.get(name)
        if where is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = where.partition(":")
        value = getattr(importlib.import_module(module, package), attr or name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *exports})

    return __getattr__, __dir__

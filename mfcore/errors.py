"""Exceptions raised by mfcore.

Every error a user can cause derives from :class:`MFError`, so callers (the CLI, the dashboard)
can show its message and keep whatever they had loaded or trained before.
"""
from __future__ import annotations


class MFError(Exception):
    """Base class of every error mfcore raises on purpose."""


class DataError(MFError, ValueError):
    """Input data that cannot be used, located as precisely as possible.

    Parameters
    ----------
    message : str
        What is wrong and what was expected.
    source : str, optional
        The file (or upload name, or table) the data came from.
    line : int, optional
        1-based line (or row, or playlist) number in ``source``.
    field : str, optional
        The column or JSON field concerned.
    """

    def __init__(self, message: str, *, source: str | None = None,
                 line: int | None = None, field: str | None = None) -> None:
        self.message = message
        self.source = source
        self.line = line
        self.field = field
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.source:
            where.append(str(self.source))
        if self.line is not None:
            where.append(f"line {self.line}")
        if self.field:
            where.append(f"field '{self.field}'")
        return (", ".join(where) + ": " if where else "") + self.message


class ConfigError(MFError, ValueError):
    """A hyperparameter or option outside its allowed range."""


class IndexOutOfRange(ConfigError, IndexError):
    """A user or item index outside the model (both a ConfigError and an IndexError)."""


class ModelFileError(MFError, ValueError):
    """A model file that is not a valid mfcore model."""


class ResourceError(MFError):
    """A request that would exceed a configured limit (memory, jobs, file size)."""

"""The one way the loaders reach a file on disk: resolved, confined, a regular file, then opened.

Every file a loader opens (the file named, each slice of an MPD folder, a metadata file, the
``-wal`` beside a SQLite file) goes through :func:`checked_path` and :func:`open_checked`:

- the path is resolved to its real path (every symbolic link followed) and, when a *root* is
  given (the dashboard's data folder), must lie inside that root's real path — a link inside the
  folder that points outside it is refused like a path that names the outside directly;
- it must be a regular file (or, where a folder is accepted, a folder): a FIFO, a device or a
  socket is refused from its ``stat`` alone, before anything opens it (opening a FIFO blocks);
- it is opened by its real path with ``O_NOFOLLOW | O_NONBLOCK`` and checked again on the open
  descriptor (``fstat``), so a file swapped for a link or a FIFO in between is refused too.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import BinaryIO

from ..errors import DataError

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISLNK, "a symbolic link"))


def file_kind(mode: int) -> str:
    """What an ``st_mode`` is, in words: 'a regular file', 'a folder', 'a FIFO (named pipe)'..."""
    if stat.S_ISREG(mode):
        return "a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    for test, words in _KINDS:
        if test(mode):
            return words
    return "not a regular file"


def real_root(root) -> Path | None:
    """The real path of a confinement root (None stays None)."""
    if root is None:
        return None
    try:
        return Path(root).expanduser().resolve(strict=True)
    except (OSError, RuntimeError):
        raise DataError(f"the data folder {root} does not exist") from None


def checked_path(path, name: str, root: Path | None = None, *, folder_ok: bool = False) -> Path:
    """The real path of ``path`` once it is known to be safe to open (see the module docstring).

    Parameters
    ----------
    path : str or Path
    name : str
        How the file is named in messages.
    root : Path, optional
        A real path (:func:`real_root`) the file must lie in; None: anywhere.
    folder_ok : bool
        Accept a folder too.

    Raises
    ------
    DataError
        Missing, a link loop, outside ``root``, or neither a regular file nor (when allowed) a
        folder.
    """
    try:
        real = Path(path).expanduser().resolve(strict=True)
    except FileNotFoundError:
        raise DataError("no such file or folder", source=name) from None
    except (OSError, RuntimeError) as exc:
        why = getattr(exc, "strerror", None) or "a symbolic link loop?"
        raise DataError(f"the path cannot be resolved ({why})", source=name) from None
    if root is not None and real != root and not real.is_relative_to(root):
        raise DataError(f"refused: it resolves to {real}, outside the data folder {root} (a "
                        "symbolic link leaving the folder is not followed)", source=name)
    try:
        mode = real.stat().st_mode
    except OSError as exc:
        raise DataError(f"cannot read its status ({exc.strerror or exc})", source=name) from None
    if not (stat.S_ISREG(mode) or (folder_ok and stat.S_ISDIR(mode))):
        wanted = "a regular file or a folder" if folder_ok else "a regular file"
        raise DataError(f"is {file_kind(mode)}, not {wanted}; refused without opening it",
                        source=name)
    return real


def open_checked(path, name: str, root: Path | None = None, *, buffering: int = -1) -> BinaryIO:
    """Open a regular file for reading after :func:`checked_path`, re-checked on the descriptor.

    Raises
    ------
    DataError
        As :func:`checked_path`, or when the file cannot be opened.
    """
    real = checked_path(path, name, root)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | \
        getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(real, flags)
    except IsADirectoryError:
        raise DataError("is a folder, not a file", source=name) from None
    except OSError as exc:
        raise DataError(f"cannot open: {exc.strerror or exc}", source=name) from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):  # swapped after the check
            raise DataError(f"is {file_kind(mode)}, not a regular file; refused", source=name)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb", buffering=buffering)
    except BaseException:
        os.close(fd)
        raise


__all__ = ["checked_path", "file_kind", "open_checked", "real_root"]

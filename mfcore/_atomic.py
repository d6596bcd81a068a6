"""Atomic file writes: a crash mid-write leaves the previous file whole, and no leftovers.

A file is written to a temporary file beside it, ``.<name>.<pid>-<random>.tmp``, and renamed into
place. A process killed while writing cannot remove its temporary file, so every write first
deletes the temporary files in the folder whose writing process (the pid in the name) is gone
(and those of the earlier naming, without a pid, once they are an hour old).
"""
from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Callable

import numpy as np

_TMP = re.compile(r"^\..+\.(\d+)-[a-z0-9_]{8}\.tmp$")
_OLD_TMP = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")  # before the pid was in the name
_OLD_AGE_S = 3600


def atomic_savez(path: Path, arrays: dict | bytes | Callable[[BinaryIO], None]) -> Path:
    """Write ``arrays`` as an ``.npz`` (or ``bytes`` as they are, or what a function writes
    to the open file) at ``path`` via a temporary file and a rename."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    remove_leftovers(folder)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(arrays, bytes):
                f.write(arrays)
            elif callable(arrays):
                arrays(f)
            else:
                np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary file and a rename (as :func:`atomic_savez`)."""
    return atomic_savez(path, data)


def remove_leftovers(folder: Path) -> list[str]:
    """Delete the temporary files of writes whose process died; returns their names."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        full = os.path.join(folder, name)
        m = _TMP.match(name)
        try:
            if m is not None:
                if _alive(int(m.group(1))):
                    continue
            elif not (_OLD_TMP.match(name)
                      and time.time() - os.lstat(full).st_mtime > _OLD_AGE_S):
                continue
            os.unlink(full)
            removed.append(name)
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be writing it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True

"""Atomic file writes: a crash mid-write leaves the previous file whole."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def atomic_savez(path: Path, arrays: dict) -> Path:
    """Write ``arrays`` as an ``.npz`` at ``path`` via a temporary file and a rename."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
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

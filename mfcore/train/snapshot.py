"""The model's arrays as they were at the end of an epoch, to go back to.

The epoch loop keeps one to undo an epoch that diverges or is cancelled, and one of the best
epoch for early stopping. Training reads them only when it goes back, so large ones are written
to an unlinked temporary file in the cache folder instead of held in memory: at k = 64 on the
MSD's 1.4M users and songs a snapshot is 0.33 GiB, a fifth of a run's peak. Writing it takes
about a tenth of a second per epoch, against seconds for the epoch itself. Small ones, and any
that cannot be written (a full or read-only disk), stay in memory.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

#: Snapshots larger than this go to a file.
SPILL_BYTES = 64 << 20


class Snapshot:
    """A copy of ``arrays`` (C-contiguous numpy arrays) that :meth:`restore` writes back.

    Parameters
    ----------
    arrays : sequence of ndarray
        The arrays to copy, each C-contiguous.
    folder : path, optional
        Where a spilled copy's temporary file is made (default: the parse cache's folder,
        ``$MFCORE_CACHE_DIR`` or ``~/.cache/mfcore``).
    spill_bytes : int, optional
        Copies of more bytes than this go to a file (default :data:`SPILL_BYTES`).

    Attributes
    ----------
    spilled : bool
        True when the copy is in a file.
    """

    def __init__(self, arrays, *, folder: str | Path | None = None,
                 spill_bytes: int | None = None) -> None:
        self._layout = [(a.shape, a.dtype) for a in arrays]
        self._copies: list[np.ndarray] | None = None
        self._file = None  # set first: __del__ closes it even if the copy fails
        limit = SPILL_BYTES if spill_bytes is None else spill_bytes
        if sum(a.nbytes for a in arrays) > limit:
            self._file = _spill(arrays, folder)
        if self._file is None:
            self._copies = [a.copy() for a in arrays]

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def restore(self, arrays) -> None:
        """Write the copy back into ``arrays`` (the same shapes and types, C-contiguous)."""
        if [(a.shape, a.dtype) for a in arrays] != self._layout:
            raise ValueError("a snapshot restores only into arrays shaped as the ones it copied")
        if self._copies is not None:
            for dst, src in zip(arrays, self._copies):
                dst[...] = src
            return
        self._file.seek(0)
        for dst in arrays:
            _read_into(self._file, dst)

    def close(self) -> None:
        """Let go of the copy (a spilled one's file is deleted as it closes)."""
        if self._file is not None:
            self._file.close()
        self._copies = None

    def __del__(self) -> None:
        self.close()


def _spill(arrays, folder) -> object | None:
    """An unlinked temporary file holding the arrays' bytes one after another; None when it
    cannot be written (or an array is not C-contiguous: it is then copied in memory)."""
    if not all(a.flags.c_contiguous for a in arrays):
        return None
    if folder is None:
        from ..load.cache import default_cache_dir
        folder = default_cache_dir()
    try:
        Path(folder).mkdir(parents=True, exist_ok=True)
        f = tempfile.TemporaryFile(dir=folder, prefix="mfcore-snapshot-")
    except OSError:
        return None
    try:
        for a in arrays:
            f.write(a.reshape(-1).view(np.uint8))
        f.flush()
    except OSError:
        f.close()
        return None
    return f


def _read_into(f, dst: np.ndarray) -> None:
    if not dst.flags.c_contiguous:
        raise ValueError("a snapshot restores only into C-contiguous arrays")
    view = dst.reshape(-1).view(np.uint8)
    done = 0
    while done < len(view):
        n = f.readinto(view[done:])
        if not n:
            raise OSError("a training snapshot's file ended early")
        done += n

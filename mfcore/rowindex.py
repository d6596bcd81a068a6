"""Counting and locating rows by their dense user or item index, without copies of the rows.

Plain numpy, chunk by chunk where numpy would copy a column first (48M rows: ``np.bincount``
copies an int32 column to int64, 0.36 GiB; ``np.searchsorted`` with a Python int does too).
"""
from __future__ import annotations

import numpy as np

__all__ = ["index_counts", "index_offsets", "nondecreasing", "strictly_sorted", "user_spans"]


def index_counts(idx: np.ndarray, n: int, chunk: int = 1 << 20) -> np.ndarray:
    """How often each of ``0 .. n-1`` occurs in ``idx`` (int64), as ``np.bincount`` counts.

    ``np.bincount`` first copies an int32 column to int64 (48M rows: 0.36 GiB for a moment);
    counting a slice at a time keeps that copy to one slice.
    """
    out = np.zeros(n, dtype=np.int64)
    for a in range(0, len(idx), chunk):
        out += np.bincount(idx[a:a + chunk], minlength=n)
    return out


def index_offsets(idx: np.ndarray, n: int) -> np.ndarray:
    """Where the rows of each of ``0 .. n-1`` start once grouped by ``idx``: the ``indptr`` of a
    CSR (int64, ``n + 1`` entries from 0, the running :func:`index_counts`)."""
    out = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(index_counts(idx, n), out=out[1:])
    return out


def nondecreasing(a: np.ndarray, chunk: int = 1 << 20) -> bool:
    """True when ``a`` never decreases; chunk by chunk, so no n-sized temporary."""
    for lo in range(0, len(a) - 1, chunk):
        part = a[lo:lo + chunk + 1]
        if not np.all(part[1:] >= part[:-1]):
            return False
    return True


def strictly_sorted(users: np.ndarray, items: np.ndarray, n_items: int,
                     chunk: int = 1 << 20) -> bool:
    """True when rows strictly increase by (user, item); checked chunk by chunk, stopping at the
    first unsorted chunk, so it needs no n-sized temporary."""
    n = len(users)
    for a in range(0, n - 1, chunk):
        b = min(a + chunk + 1, n)
        k = users[a:b].astype(np.int64) * np.int64(n_items) + items[a:b]
        if not np.all(k[1:] > k[:-1]):
            return False
    return True


def user_spans(users: np.ndarray, runs, lo: int, hi: int) -> list[tuple[int, int]]:
    """The rows of users ``lo .. hi - 1`` as one ``(start, stop)`` per run, the rows being held
    as runs ``runs[j]:runs[j + 1]`` each sorted by user (``(0, len(users))``: one sorted run)."""
    # Keys of the column's type: a Python int makes searchsorted copy the column to int64.
    ends = np.array([lo, hi], dtype=users.dtype)
    return [(a + int(s), a + int(e)) for a, b in zip(runs, runs[1:])
            for s, e in [np.searchsorted(users[a:b], ends)]]

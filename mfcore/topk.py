"""Top-k selection with ties broken by the lower index: the one routine behind every ranking.

:func:`select_top` keeps the best ``K`` of ``row[j] + bias[j]`` in a bounded heap ordered by
(score descending, index ascending), O(n) per row for small K, then heap-sorts them best first.
The evaluation kernel (:mod:`mfcore.evaluate.rank_kernel`) calls it row by row inside numba;
:func:`top_n` (:mod:`mfcore.topn`, numpy, re-exported here) is the same selection for one row from
Python (recommendations); tests hold the two to the same order.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .topn import top_n

__all__ = ["select_top", "top_n"]


@njit(nogil=True, cache=True)
def _sift_down(hv, hi, p, size):
    """Restore the heap below ``p``; the root holds the *worst* entry (lowest score, and among
    equal scores the highest index)."""
    while True:
        c = 2 * p + 1
        if c >= size:
            return
        if c + 1 < size and (hv[c + 1] < hv[c] or (hv[c + 1] == hv[c] and hi[c + 1] > hi[c])):
            c += 1
        if hv[c] < hv[p] or (hv[c] == hv[p] and hi[c] > hi[p]):
            tv = hv[c]
            hv[c] = hv[p]
            hv[p] = tv
            ti = hi[c]
            hi[c] = hi[p]
            hi[p] = ti
            p = c
        else:
            return


@njit(nogil=True, cache=True)
def select_top(row, bias, K, hv, hi):
    """The ``K`` best entries of ``row + bias`` into ``hv[:K]`` (scores) / ``hi[:K]`` (indices).

    Best first; ties go to the lower index. Entries scoring -inf (excluded candidates) never
    enter: when fewer than ``K`` entries are finite, the last slots keep -inf with indices
    ``>= len(row)``.
    """
    n = row.shape[0]
    ninf = np.float32(-np.inf)
    # Sentinels: -inf with indices n+K-j, a valid heap (the root is the worst).
    for j in range(K):
        hv[j] = ninf
        hi[j] = n + K - j
    if K == 0:
        return
    root = hv[0]
    for j in range(n):
        v = row[j] + bias[j]
        # Strict '>': an equal score arriving later has a higher index, so it loses.
        if v > root:
            hv[0] = v
            hi[0] = j
            _sift_down(hv, hi, 0, K)
            root = hv[0]
    # Heap sort: the worst goes to the end, leaving best-first order.
    for end in range(K - 1, 0, -1):
        tv = hv[0]
        hv[0] = hv[end]
        hv[end] = tv
        ti = hi[0]
        hi[0] = hi[end]
        hi[end] = ti
        _sift_down(hv, hi, 0, end)

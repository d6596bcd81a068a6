"""Top-k selection with ties broken by the lower index: the one routine behind every ranking.

:func:`select_top` keeps the best ``K`` of ``row[j] + bias[j]`` in a bounded heap ordered by
(score descending, index ascending), O(n) per row for small K, then heap-sorts them best first:
:func:`heap_start`, :func:`heap_offer` and :func:`heap_finish`, which the evaluation kernel
(:mod:`mfcore.evaluate.rank_kernel`) calls inside numba on a row offered tile by tile.
:func:`top_n` (:mod:`mfcore.topn`, numpy, re-exported here) is the same selection for one row from
Python (recommendations); tests hold the two to the same order.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from .topn import top_n

__all__ = ["heap_finish", "heap_offer", "heap_start", "select_top", "top_n"]


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


_BLOCK = 64


@njit(nogil=True, cache=True)
def heap_start(hv, hi, n, K):
    """An empty heap of ``K`` slots for a row of ``n`` candidates: -inf sentinels with indices
    n+K-j, a valid heap (the root is the worst) that any finite score beats."""
    ninf = np.float32(-np.inf)
    for j in range(K):
        hv[j] = ninf
        hi[j] = n + K - j


@njit(nogil=True, cache=True)
def heap_offer(seg, bias, offset, K, hv, hi):
    """Offer ``seg[j] + bias[j]`` as candidate ``offset + j``, in increasing j, to the heap.

    A row offered in consecutive segments (increasing offsets) leaves the heap exactly as one
    call over the whole row would.
    """
    if K == 0:
        return
    n = seg.shape[0]
    root = hv[0]
    # Once the heap is full few entries beat its root: a block is first tested as a whole with
    # a branch-free OR of its comparisons (LLVM vectorises it; 64 was the fastest width
    # measured, 3x the plain loop on 384k-wide rows), and only a block that holds a winner is
    # walked one entry at a time, in the same order, so the heap sees the same offers.
    nb = n - n % _BLOCK
    for j0 in range(0, nb, _BLOCK):
        hit = False
        for j in range(j0, j0 + _BLOCK):
            hit |= seg[j] + bias[j] > root
        if hit:
            root = _push_range(seg, bias, offset, j0, j0 + _BLOCK, K, hv, hi, root)
    _push_range(seg, bias, offset, nb, n, K, hv, hi, root)


@njit(nogil=True, cache=True)
def _push_range(seg, bias, offset, j0, j1, K, hv, hi, root):
    """Offer entries ``j0:j1`` one at a time; returns the new root."""
    for j in range(j0, j1):
        v = seg[j] + bias[j]
        # Strict '>': an equal score arriving later has a higher index, so it loses.
        if v > root:
            hv[0] = v
            hi[0] = offset + j
            _sift_down(hv, hi, 0, K)
            root = hv[0]
    return root


@njit(nogil=True, cache=True)
def heap_finish(hv, hi, K):
    """Heap-sort the ``K`` kept entries into best-first order."""
    for end in range(K - 1, 0, -1):
        tv = hv[0]
        hv[0] = hv[end]
        hv[end] = tv
        ti = hi[0]
        hi[0] = hi[end]
        hi[end] = ti
        _sift_down(hv, hi, 0, end)


@njit(nogil=True, cache=True)
def select_top(row, bias, K, hv, hi):
    """The ``K`` best entries of ``row + bias`` into ``hv[:K]`` (scores) / ``hi[:K]`` (indices).

    Best first; ties go to the lower index. Entries scoring -inf (excluded candidates) never
    enter: when fewer than ``K`` entries are finite, the last slots keep -inf with indices
    ``>= len(row)``.
    """
    heap_start(hv, hi, row.shape[0], K)
    heap_offer(row, bias, 0, K, hv, hi)
    heap_finish(hv, hi, K)


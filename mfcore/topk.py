"""Top-k selection with ties broken by the lower index: the one routine behind every ranking.

:func:`select_top` keeps the best ``K`` of ``row[j] + bias[j]`` in a bounded heap ordered by
(score descending, index ascending), O(n) per row for small K, then heap-sorts them best first:
:func:`heap_start`, :func:`heap_offer` and :func:`heap_finish`, which the evaluation kernel
(:mod:`mfcore.evaluate.rank_kernel`) calls inside numba on a row offered tile by tile;
:func:`top_n` is the same selection for one row from Python (recommendations).
"""
from __future__ import annotations

import numpy as np
from numba import njit


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


def top_n(scores: np.ndarray, n: int, exclude=None,
          bias: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The ``n`` best entries of ``scores`` (+ ``bias``), best first, ties broken by lower index.

    Parameters
    ----------
    scores : 1-D array of float
    n : int
        Clamped to the number of candidates.
    exclude : array-like of int, optional
        Indices that are not candidates.
    bias : 1-D array of float, optional
        Added to ``scores`` (in float32) before ranking.

    Returns
    -------
    (idx int64, scores float32)
    """
    s = np.array(scores, dtype=np.float32, copy=True).ravel()
    b = np.zeros(len(s), np.float32) if bias is None else np.asarray(bias, dtype=np.float32)
    n_cand = len(s)
    if exclude is not None and len(exclude):
        ex = np.unique(np.asarray(exclude, dtype=np.int64))
        s[ex] = -np.inf
        n_cand -= len(ex)
    n = max(0, min(int(n), n_cand))
    hv = np.empty(n, np.float32)
    hi = np.empty(n, np.int64)
    select_top(s, b, n, hv, hi)
    keep = hi < len(s)  # only when scores held -inf of their own
    return hi[keep], hv[keep]

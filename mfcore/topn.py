"""The best ``n`` entries of one row, in numpy: every recommendation list.

The same selection as :func:`mfcore.topk.select_top`, the numba heap the evaluation kernel runs
row by row (score descending, ties to the lower index, entries at -inf or NaN never returned),
without numba, so one user's recommendations from a saved model neither import nor compile it.
A partition finds the n-th best score; every entry above it and the lowest-indexed entries equal
to it make the n, sorted stably by score (so equal scores stay in index order).
"""
from __future__ import annotations

import numpy as np

__all__ = ["top_n"]


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
        Entries scoring -inf or NaN are never returned, so fewer than ``n`` may come back.
    """
    s = np.array(scores, dtype=np.float32, copy=True).ravel()
    n_cand = len(s)
    if exclude is not None and len(exclude):
        ex = np.unique(np.asarray(exclude, dtype=np.int64))
        s[ex] = -np.inf
        n_cand -= len(ex)
    n = max(0, min(int(n), n_cand))
    # Adding the bias (zeros when absent) as select_top does: -0.0 + 0.0 is +0.0 there too.
    v = s + (np.float32(0) if bias is None else np.asarray(bias, dtype=np.float32))
    idx = np.flatnonzero(v > -np.inf)  # NaN compares False: never a candidate
    if n == 0:
        idx = idx[:0]
    elif len(idx) > n:
        vals = v[idx]
        nth = np.partition(vals, len(vals) - n)[len(vals) - n]
        above = idx[vals > nth]
        idx = np.sort(np.concatenate([above, idx[vals == nth][:n - len(above)]]))
    order = np.argsort(-v[idx], kind="stable")
    idx = idx[order].astype(np.int64, copy=False)
    return idx, v[idx]

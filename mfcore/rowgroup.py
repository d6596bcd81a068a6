"""Rows regrouped by another column in one pass (a counting sort), for the item side of the rows.

The rows of an :class:`~mfcore.interactions.Interactions` are sorted by user. Grouping them by
item with ``np.argsort(items, kind='stable')`` needs an int64 order (8 bytes a row) and a
comparison sort; a counting sort writes each row straight to its place: the same result
(within an item, rows keep their order) in O(rows), with nothing but the output.
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["group_rows"]


@njit(nogil=True, cache=True)
def _scatter(keys, cols, vals, indptr, out_cols, out_vals):
    nxt = indptr[:-1].copy()
    for r in range(len(keys)):
        pos = nxt[keys[r]]
        out_cols[pos] = cols[r]
        out_vals[pos] = vals[r]
        nxt[keys[r]] = pos + 1


def group_rows(keys: np.ndarray, cols: np.ndarray, vals: np.ndarray, indptr: np.ndarray):
    """``(cols, vals)`` reordered so that the rows of each key are together, keys ascending,
    each key's rows in their original order: ``indptr`` (int64, from the key counts) bounds
    them, as ``np.argsort(keys, kind='stable')`` would order them."""
    out_cols = np.empty(len(cols), dtype=cols.dtype)
    out_vals = np.empty(len(vals), dtype=vals.dtype)
    _scatter(keys, cols, vals, indptr, out_cols, out_vals)
    return out_cols, out_vals

"""Rows regrouped by another column in one pass (a counting sort), for the item side of the rows.

The rows of an :class:`~mfcore.interactions.Interactions` are sorted by user. Grouping them by
item with ``np.argsort(items, kind='stable')`` needs an int64 order (8 bytes a row) and a
comparison sort; a counting sort writes each row straight to its place: the same result
(within an item, rows keep their order) in O(rows), with nothing but the output.

:func:`merge_order` is the way back to that sorted order from rows kept as a few sorted runs (a
prepared dataset's train, validation and test parts side by side): a k-way merge, O(rows · runs).
"""
from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["group_rows", "grouped", "grouped_order", "merge_order", "merged_chunks",
           "merged_column"]


@njit(nogil=True, cache=True)
def _scatter(keys, indptr, src, out):
    """``out[p] = src[r]`` (``r`` itself when ``src`` is None) with ``p`` the next free place
    of row ``r``'s key."""
    nxt = indptr[:-1].copy()
    for r in range(len(keys)):
        pos = nxt[keys[r]]
        if src is None:
            out[pos] = r
        else:
            out[pos] = src[r]
        nxt[keys[r]] = pos + 1


def grouped_order(keys: np.ndarray, indptr: np.ndarray) -> np.ndarray:
    """The row numbers :func:`grouped` would put in each place: int32 (int64 past 2**31 rows),
    4 bytes a row where the regrouped columns themselves would take one array each."""
    out = np.empty(len(keys), dtype=np.int32 if len(keys) < 2**31 else np.int64)
    _scatter(keys, indptr, None, out)
    return out


def grouped(keys: np.ndarray, indptr: np.ndarray, *columns: np.ndarray) -> list[np.ndarray]:
    """``columns`` reordered so that the rows of each key are together, keys ascending, each
    key's rows in their original order, as ``np.argsort(keys, kind='stable')`` would order
    them; ``indptr`` (int64, from the key counts) bounds each key's rows."""
    out = []
    for column in columns:
        out.append(np.empty(len(column), dtype=column.dtype))
        _scatter(keys, indptr, column, out[-1])
    return out


def group_rows(keys: np.ndarray, cols: np.ndarray, vals: np.ndarray, indptr: np.ndarray):
    """``(cols, vals)`` :func:`grouped` by ``keys``."""
    return tuple(grouped(keys, indptr, cols, vals))

@njit(nogil=True, cache=True)
def _merge(users, items, bounds, head, out):
    """Write into ``out`` the next ``len(out)`` row numbers of the runs
    ``bounds[j]:bounds[j + 1]`` (each sorted by (user, item)) in (user, item) order, from the
    run positions ``head`` (advanced); a tie goes to the earlier run."""
    k = len(bounds) - 1
    for pos in range(len(out)):
        best = -1
        jb = 0
        for j in range(k):
            r = head[j]
            if r < bounds[j + 1] and (best < 0 or users[r] < users[best]
                                      or (users[r] == users[best] and items[r] < items[best])):
                best = r
                jb = j
        out[pos] = best
        head[jb] += 1


def merge_order(users: np.ndarray, items: np.ndarray, bounds) -> np.ndarray:
    """Row numbers that put rows held as sorted runs back in (user, item) order.

    Parameters
    ----------
    users, items : ndarray of int32
    bounds : sequence of int
        ``0 = b0 <= b1 <= ... = len(users)``; rows ``bounds[j]:bounds[j + 1]`` are sorted by
        (user, item).

    Returns
    -------
    ndarray of int64, shape (len(users),)
        ``users[order]``, ``items[order]`` are sorted by (user, item).
    """
    out = np.empty(len(users), dtype=np.int64)
    bounds = np.asarray(bounds, dtype=np.int64)
    _merge(users, items, bounds, bounds[:-1].copy(), out)
    return out


#: Row numbers per chunk of :func:`merged_chunks`.
MERGE_CHUNK = 1 << 20


def merged_chunks(users: np.ndarray, items: np.ndarray, bounds, chunk: int | None = None):
    """:func:`merge_order` a ``chunk`` of row numbers at a time (default :data:`MERGE_CHUNK`;
    8 bytes a row of the chunk, not of all the rows): for reading rows in runs in (user, item)
    order as they stream by."""
    chunk = chunk or MERGE_CHUNK
    bounds = np.asarray(bounds, dtype=np.int64)
    head = bounds[:-1].copy()
    for start in range(0, len(users), chunk):
        out = np.empty(min(chunk, len(users) - start), dtype=np.int64)
        _merge(users, items, bounds, head, out)
        yield out


def merged_column(column: np.ndarray, users: np.ndarray, items: np.ndarray, bounds):
    """``column`` of rows held as sorted runs, in (user, item) order, a chunk at a time
    (:func:`merged_chunks`): what ``column[merge_order(...)]`` holds, never all at once."""
    for order in merged_chunks(users, items, bounds):
        yield column[order]

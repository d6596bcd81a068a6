"""Finding items by what people call them: a search of the whole catalogue by title, artist
or id, most popular first (the dashboard's song pickers ask the server, not the browser, so no
item is out of reach however many there are)."""
from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["search_keys", "search_items"]


def search_keys(names, ids) -> pd.Series:
    """Each item's searchable text: its readable name (``"title — artist"``) and its raw id,
    case-folded. ``names`` and ``ids`` hold one entry per item."""
    return (pd.Series(np.asarray(names, dtype=object), dtype="string")
            .str.cat(pd.Series(np.asarray(ids).astype(str), dtype="string"), sep=" ")
            .str.casefold())


def search_items(keys: pd.Series, query: str, order: np.ndarray, *, limit: int = 50
                 ) -> tuple[np.ndarray, int]:
    """The items whose key holds every word of ``query``, in ``order``, at most ``limit``.

    Parameters
    ----------
    keys : Series of str
        :func:`search_keys` of every item.
    query : str
        Words in any order and case (``"unforgiven metallica"``); empty matches every item.
    order : ndarray of int
        Every item index, the first to show first (e.g. the most popular first).
    limit : int
        The most indices returned.

    Returns
    -------
    (ndarray of int64, int)
        The matching items in ``order`` (an item whose id is exactly the query first), and how
        many items match in all.
    """
    words = query.casefold().split()
    if not words:
        return np.asarray(order[:limit], dtype=np.int64), len(order)
    hit = np.ones(len(keys), dtype=bool)
    for word in words:
        hit &= keys.str.contains(word, regex=False).to_numpy(dtype=bool)
    ranked = np.asarray(order)[hit[order]]
    exact = keys.str.endswith(" " + query.strip().casefold()).to_numpy(dtype=bool)
    if exact.any():  # the id typed in full goes first
        ranked = np.concatenate([ranked[exact[ranked]], ranked[~exact[ranked]]])
    return ranked[:limit].astype(np.int64), int(np.count_nonzero(hit))

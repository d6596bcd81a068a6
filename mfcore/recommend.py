"""Recommendations from a factor model: a user's top items, an item's top fans, similar items,
and fold-in of a new user (or playlist) from a list of items.

Ranking follows ``docs/definitions.md``: a user's items by b_i + p_u·q_i (μ and b_u do not
change the order), an item's fans by b_u + p_u·q_i, ties broken by the lower index, n clamped to
the candidates. Every function scores one row (:meth:`mfcore.model.FactorModel.scores` and
friends; a k × k solve for fold-in) and selects with :func:`mfcore.topn.top_n`, cheap enough to
call on every click. ``model`` is a :class:`~mfcore.model.FactorModel`, or anything with its
fitted attributes.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError, IndexOutOfRange
from .foldin import fold_in
from .interactions import Interactions
from .model import as_factor_model, index_array
from .topn import top_n

__all__ = ["IndexOutOfRange", "listeners", "played", "recommend", "recommend_folded",
           "similar_items", "top_fans", "top_n"]


def _check_index(name: str, value, n: int) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ConfigError(f"{name} must be an integer index, got {value!r}")
    if not 0 <= int(value) < n:
        raise IndexOutOfRange(f"{name} index {int(value)} is out of range: the model has {n} "
                              f"{name}s (valid indices 0..{n - 1})")
    return int(value)


def _check_n(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"n must be an integer >= 1, got {n!r}")
    return int(n)


def _rows_of(exclude: Interactions | None, by: str, index: int, n_rows: int, n_cols: int):
    if exclude is None:
        return None
    if not isinstance(exclude, Interactions):
        raise ConfigError("exclude must be an Interactions (e.g. the training set) or None")
    if exclude.n_users != (n_rows if by == "user" else n_cols) or \
            exclude.n_items != (n_cols if by == "user" else n_rows):
        raise ConfigError(f"exclude has {exclude.n_users} users × {exclude.n_items} items, which "
                          f"does not match the model; was the model trained on this dataset?")
    if by == "user":
        return exclude.user_rows(index)[0]
    indptr, indices, _ = exclude.csr(by)
    return indices[indptr[index]:indptr[index + 1]]


def played(data: Interactions, user: int) -> tuple[np.ndarray, np.ndarray]:
    """What ``user`` played in ``data``, shown beside their recommendations.

    Returns
    -------
    (item_idx int32, values float32)
        The user's items, largest value first (ties by the lower index).
    """
    user = _check_index("user", user, data.n_users)
    mine, counts = data.user_rows(user)
    order = np.lexsort((mine, -counts))
    return mine[order], counts[order]


def listeners(data: Interactions, item: int) -> dict[int, float]:
    """Who played ``item`` in ``data`` and how much: {user index: value}.

    A scan of the item column (tens of milliseconds at 48M rows) rather than the item-side
    rows, which would keep a sorted copy of every row for one song's listeners.
    """
    item = _check_index("item", item, data.n_items)
    rows = np.flatnonzero(data.items == item)
    return dict(zip(data.users[rows].tolist(), data.values[rows].tolist()))


def recommend(model, user: int, n: int = 10, exclude=None):
    """The ``n`` best items for a trained user.

    Parameters
    ----------
    model : FactorModel
    user : int
        Dense user index.
    n : int
        Clamped to the candidates.
    exclude : Interactions or array of int, optional
        Items this user has a row for in ``exclude`` (typically the training set) are not
        recommended; or the item indices to leave out (e.g. from
        :func:`mfcore.seen.seen_items`).

    Returns
    -------
    (item_idx int64, scores float32)
        Scores are the ranking scores b_i + p_u·q_i (add μ + b_u for a predicted value).
    """
    model = as_factor_model(model)
    n_users, n_items = (len(a) for a in model.parts()[:2])  # ConfigError when not fitted
    user = _check_index("user", user, n_users)
    n = _check_n(n)
    if exclude is None or isinstance(exclude, Interactions):
        exclude = _rows_of(exclude, "user", user, n_users, n_items)
    else:
        exclude = np.asarray(exclude)
        if exclude.ndim != 1 or (len(exclude) and (exclude.dtype.kind not in "iu" or
                                                   exclude.min() < 0 or exclude.max() >= n_items)):
            raise ConfigError(f"exclude must be an Interactions or item indices in 0..{n_items - 1}")
    return top_n(model.scores(user), n, exclude)


def top_fans(model, item: int, n: int = 10, exclude: Interactions | None = None):
    """The ``n`` users most likely to love ``item``, ranked by b_u + p_u·q_i.

    Parameters
    ----------
    model : FactorModel
    item : int
        Dense item index.
    n : int
        Clamped to the candidates.
    exclude : Interactions, optional
        Users with a row for ``item`` in ``exclude`` are left out.

    Returns
    -------
    (user_idx int64, scores float32)
    """
    model = as_factor_model(model)
    n_users, n_items = (len(a) for a in model.parts()[:2])  # ConfigError when not fitted
    item = _check_index("item", item, n_items)
    n = _check_n(n)
    return top_n(model.fan_scores(item), n, _rows_of(exclude, "item", item, n_items, n_users))


def similar_items(model, item: int, n: int = 10):
    """Items whose factor vectors have the highest cosine with ``item``'s (itself excluded).

    An item with an all-zero factor vector has cosine 0 with everything.

    Parameters
    ----------
    model : FactorModel
    item : int
        Dense item index.
    n : int
        Clamped to the candidates.

    Returns
    -------
    (item_idx int64, cosine float32)
    """
    m = as_factor_model(model).parts()
    item = _check_index("item", item, len(m.Q))
    n = _check_n(n)
    # In float64, a slice of items at a time: a float64 copy of every factor (and of their
    # squares) would be 0.4 GiB at 385k songs for one song's neighbours.
    q = m.Q[item].astype(np.float64)
    dots, norms = np.empty(len(m.Q)), np.empty(len(m.Q))
    for lo in range(0, len(m.Q), 1 << 16):
        block = m.Q[lo:lo + (1 << 16)].astype(np.float64)
        dots[lo:lo + len(block)] = block @ q
        norms[lo:lo + len(block)] = np.sqrt(np.add.reduce(block * block, axis=1))
    denom = norms * norms[item]
    cos = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
    return top_n(cos, n, [item])


def recommend_folded(model, items, values=None, n: int = 10, exclude_given: bool = True,
                     reg: float | None = None):
    """Fold a new user in from ``items`` (:func:`mfcore.foldin.fold_in`) and recommend for it.

    Items are ranked by b_i + p·q_i, exactly as for a trained user; the given items are left out
    unless ``exclude_given`` is False.

    Parameters
    ----------
    model : FactorModel
    items, values, reg
        As for :func:`fold_in`.
    n : int
        Clamped to the candidates.
    exclude_given : bool
        Leave the given items out of the recommendations.

    Returns
    -------
    (item_idx int64, scores float32)
    """
    n = _check_n(n)
    model = as_factor_model(model)
    items = index_array("items", items, model.n_items_)
    p, _ = fold_in(model, items, values, reg)
    return top_n(model.item_scores(p), n, items if exclude_given else None)

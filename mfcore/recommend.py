"""Recommendations from a factor model: a user's top items, an item's top fans, similar items,
and fold-in of a new user (or playlist) from a list of items.

Ranking follows ``docs/definitions.md``: a user's items by b_i + p_u·q_i (μ and b_u do not
change the order), an item's fans by b_u + p_u·q_i, ties broken by the lower index, n clamped to
the candidates. Every function scores one row (:meth:`mfcore.model.FactorModel.scores` and
friends; a k × k solve for fold-in) and selects with :func:`mfcore.topk.top_n`, cheap enough to
call on every click. ``model`` is a :class:`~mfcore.model.FactorModel`, or anything with its
fitted attributes.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError
from .interactions import Interactions
from .model import ModelParts, as_factor_model
from .topk import top_n

__all__ = ["DEFAULT_REG", "IndexOutOfRange", "fold_in", "recommend", "recommend_folded",
           "resolve_reg", "similar_items", "solve_fold_in", "top_fans", "top_n"]

#: λ used by :func:`fold_in` when neither ``reg`` nor ``model.params['reg']`` is given.
DEFAULT_REG = 0.02


class IndexOutOfRange(ConfigError, IndexError):
    """A user or item index outside the model (both a ConfigError and an IndexError)."""


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


def _check_index_array(name: str, values, n: int) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be a 1-D list of indices")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"{name} must be integer indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    bad = (arr < 0) | (arr >= n)
    if bad.any():
        raise IndexOutOfRange(f"{name} index {int(arr[bad][0])} is out of range: the model has "
                              f"{n} (valid indices 0..{n - 1})")
    return arr


def _rows_of(exclude: Interactions | None, by: str, index: int, n_rows: int, n_cols: int):
    if exclude is None:
        return None
    if not isinstance(exclude, Interactions):
        raise ConfigError("exclude must be an Interactions (e.g. the training set) or None")
    if exclude.n_users != (n_rows if by == "user" else n_cols) or \
            exclude.n_items != (n_cols if by == "user" else n_rows):
        raise ConfigError(f"exclude has {exclude.n_users} users × {exclude.n_items} items, which "
                          f"does not match the model; was the model trained on this dataset?")
    indptr, indices, _ = exclude.csr(by)
    return indices[indptr[index]:indptr[index + 1]]


def recommend(model, user: int, n: int = 10, exclude: Interactions | None = None):
    """The ``n`` best items for a trained user.

    Parameters
    ----------
    model : FactorModel
    user : int
        Dense user index.
    n : int
        Clamped to the candidates.
    exclude : Interactions, optional
        Items this user has a row for in ``exclude`` (typically the training set) are not
        recommended.

    Returns
    -------
    (item_idx int64, scores float32)
        Scores are the ranking scores b_i + p_u·q_i (add μ + b_u for a predicted value).
    """
    model = as_factor_model(model)
    n_users, n_items = (len(a) for a in model.parts()[:2])  # ConfigError when not fitted
    user = _check_index("user", user, n_users)
    n = _check_n(n)
    return top_n(model.scores(user), n, _rows_of(exclude, "user", user, n_users, n_items))


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
    Q = m.Q.astype(np.float64)
    norms = np.linalg.norm(Q, axis=1)
    dots = Q @ Q[item]
    denom = norms * norms[item]
    cos = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
    return top_n(cos, n, [item])


def solve_fold_in(m: ModelParts, items: np.ndarray, values, lam: float):
    """The fold-in ridge solve of :func:`fold_in` on checked arrays (no index checks).

    Parameters
    ----------
    m : ModelParts
    items : int64 array of valid item indices
    values : array-like of float, or None (ones)
    lam : float
        λ >= 0.

    Returns
    -------
    (p float32 (k,), b_u float)
    """
    k = m.Q.shape[1]
    if values is None:
        t = np.ones(len(items))
    else:
        t = np.asarray(values, dtype=np.float64).ravel()
        if len(t) != len(items):
            raise ConfigError(f"values has {len(t)} entries for {len(items)} items")
        if not np.all(np.isfinite(t)):
            raise ConfigError("values must be finite")
    Y = m.Q[items].astype(np.float64)
    if m.biased:
        X = np.hstack([Y, np.ones((len(items), 1))])
        t = t - m.mu - m.bi[items].astype(np.float64)
    else:
        X = Y
    A = X.T @ X + lam * np.eye(X.shape[1])
    rhs = X.T @ t
    try:
        x = np.linalg.solve(A, rhs)
    except np.linalg.LinAlgError:      # λ = 0 and too few items: minimum-norm solution
        x = np.linalg.lstsq(A, rhs, rcond=None)[0]
    return x[:k].astype(np.float32), (float(x[k]) if m.biased else 0.0)


def fold_in(model, items, values=None, reg: float | None = None):
    """Factors of a new user (or playlist) from the items it has, without retraining.

    Unbiased model: with Y = Q[items] and targets t (``values``, ones when omitted),
    p = (YᵀY + λI)⁻¹ Yᵀ t. Biased model: the same ridge problem for [p, b_u] with targets
    t − μ − b_i (Y augmented with a column of ones; λ applies to b_u too).

    Parameters
    ----------
    model : FactorModel
        Biased when ``model.params['biased']`` says so (else when it has non-zero biases).
    items : array-like of int
        Dense item indices (repeats count as separate observations). Empty gives p = 0, b_u = 0.
    values : array-like of float, optional
        One observed value per item; ones (implicit) when omitted.
    reg : float, optional
        λ >= 0; default ``model.params['reg']``, else :data:`DEFAULT_REG`.

    Returns
    -------
    (p float32 (k,), b_u float)
    """
    m = as_factor_model(model).parts()
    items = _check_index_array("items", items, len(m.Q))
    return solve_fold_in(m, items, values, resolve_reg(model, reg))


def resolve_reg(model, reg: float | None) -> float:
    """The fold-in λ: ``reg`` when given, else ``model.params['reg']``, else :data:`DEFAULT_REG`.

    Parameters
    ----------
    model : FactorModel
    reg : float or None

    Returns
    -------
    float

    Raises
    ------
    ConfigError
        λ is not a finite number >= 0.
    """
    if reg is None:
        reg = (getattr(model, "params", None) or {}).get("reg", DEFAULT_REG)
    try:
        lam = float(reg)
    except (TypeError, ValueError):
        raise ConfigError(f"reg must be a number >= 0, got {reg!r}") from None
    if not np.isfinite(lam) or lam < 0:
        raise ConfigError(f"reg must be a number >= 0, got {reg!r}")
    return lam


def recommend_folded(model, items, values=None, n: int = 10, exclude_given: bool = True,
                     reg: float | None = None):
    """Fold a new user in from ``items`` (see :func:`fold_in`) and recommend for it.

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
    m = model.parts()
    items = _check_index_array("items", items, len(m.Q))
    p, _ = solve_fold_in(m, items, values, resolve_reg(model, reg))
    return top_n(model.item_scores(p), n, items if exclude_given else None)

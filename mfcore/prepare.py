"""Value transforms and count filters applied between loading and splitting.

Every function returns a new :class:`~mfcore.interactions.Interactions` and records what it did
in the result's ``extra`` dict (a fresh dict: the input is never modified), so that a prediction
made on transformed values can be mapped back (:func:`inverse_transform`) and the dashboard can
say how much a filter removed.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from .errors import ConfigError, DataError
from .interactions import Interactions

TRANSFORMS = ("none", "standardize", "log1p", "binary")


def transform(data: Interactions, kind: str) -> Interactions:
    """Transform the values of ``data``.

    Parameters
    ----------
    data : Interactions
        The interactions to transform; left unchanged.
    kind : {'none', 'standardize', 'log1p', 'binary'}
        - ``'none'``: values as they are.
        - ``'standardize'``: ``(x - mean) / std`` over all rows (population std, as the MSD
          notebook's); ``mean`` and ``std`` are recorded so predictions can be mapped back. A
          constant column (std 0) is only centred (std recorded as 1).
        - ``'log1p'``: ``log(1 + x)``; values must be > -1.
        - ``'binary'``: every observed pair becomes 1 and the data is marked implicit.

    Returns
    -------
    Interactions
        A new object whose ``extra['transform']`` is a dict ``{'kind': ..., ...}`` (with ``mean``
        and ``std`` for 'standardize').

    Raises
    ------
    ConfigError
        Unknown ``kind``.
    DataError
        'log1p' on values <= -1.
    """
    if kind not in TRANSFORMS:
        raise ConfigError(f"unknown transform {kind!r}; expected one of {', '.join(TRANSFORMS)}")
    v = data.values
    info: dict = {"kind": kind}
    implicit = data.implicit
    if kind == "none":
        new = v
    elif kind == "standardize":
        v64 = v.astype(np.float64)
        mean = float(v64.mean()) if len(v64) else 0.0
        std = float(v64.std()) if len(v64) else 1.0
        if not np.isfinite(std) or std <= 0.0:
            std = 1.0
        new = ((v64 - mean) / std).astype(np.float32)
        info.update(mean=mean, std=std)
    elif kind == "log1p":
        if len(v) and float(v.min()) <= -1.0:
            raise DataError(f"log1p needs values > -1; the smallest value is {float(v.min())}",
                            source=data.source or None)
        new = np.log1p(v.astype(np.float64)).astype(np.float32)
    else:  # binary
        new = np.ones(len(v), dtype=np.float32)
        implicit = True
    extra = {**data.extra, "transform": info}
    return replace(data, values=np.ascontiguousarray(new, dtype=np.float32), implicit=implicit,
                   extra=extra)


def inverse_transform(values, info: dict | None) -> np.ndarray:
    """Map values (e.g. predictions) from the transformed scale back to the original one.

    Parameters
    ----------
    values : array-like of float
    info : dict or None
        ``data.extra['transform']`` as recorded by :func:`transform` (None means 'none').

    Returns
    -------
    ndarray of float64
        For 'binary' the values are returned unchanged (the original scale is lost).
    """
    x = np.asarray(values, dtype=np.float64)
    kind = (info or {}).get("kind", "none")
    if kind == "standardize":
        return x * float(info["std"]) + float(info["mean"])
    if kind == "log1p":
        return np.expm1(x)
    if kind in ("none", "binary"):
        return x
    raise ConfigError(f"unknown transform {kind!r} in the recorded transform info")


def filter_min_counts(data: Interactions, min_user: int = 1, min_item: int = 1) -> Interactions:
    """Keep users with at least ``min_user`` rows and items with at least ``min_item`` rows.

    Dropping items can push a user below the threshold and vice versa, so the filter is repeated
    until nothing changes (a fixpoint: every kept user and item meets its threshold). Users and
    items left without rows are removed from the id maps and the indices made dense again;
    ``item_meta`` is kept (restricted to the remaining items).

    Parameters
    ----------
    data : Interactions
    min_user, min_item : int
        Minimum rows per user and per item (>= 1).

    Returns
    -------
    Interactions
        With ``extra['filter']`` = ``{'min_user', 'min_item', 'rounds', 'rows_dropped',
        'users_dropped', 'items_dropped'}`` (users/items counted against the input id maps, so
        ids that already had no rows count as dropped).

    Raises
    ------
    ConfigError
        A threshold below 1 or not an integer.
    DataError
        Nothing is left after filtering.
    """
    for name, val in (("min_user", min_user), ("min_item", min_item)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
            raise ConfigError(f"{name} must be an integer >= 1, got {val!r}")
    keep = np.ones(len(data), dtype=bool)
    rounds = 0
    while True:
        rounds += 1
        uc = np.bincount(data.users[keep], minlength=data.n_users)
        ic = np.bincount(data.items[keep], minlength=data.n_items)
        ok = keep & (uc[data.users] >= min_user) & (ic[data.items] >= min_item)
        if np.array_equal(ok, keep):
            break
        keep = ok
    n_kept = int(np.count_nonzero(keep))
    if n_kept == 0:
        raise DataError(f"no interactions left after requiring {min_user} rows per user and "
                        f"{min_item} per item", source=data.source or None)
    used_u = np.flatnonzero(uc > 0)
    used_i = np.flatnonzero(ic > 0)
    umap = np.full(data.n_users, -1, np.int32)
    umap[used_u] = np.arange(len(used_u), dtype=np.int32)
    imap = np.full(data.n_items, -1, np.int32)
    imap[used_i] = np.arange(len(used_i), dtype=np.int32)
    item_ids = data.item_ids[used_i]
    meta = data.item_meta
    if meta is not None:
        meta = meta[meta.index.isin(item_ids)]
    info = {"min_user": int(min_user), "min_item": int(min_item), "rounds": rounds,
            "rows_dropped": len(data) - n_kept,
            "users_dropped": data.n_users - len(used_u),
            "items_dropped": data.n_items - len(used_i)}
    # The maps are increasing, so rows stay sorted by (user, item).
    return Interactions(np.ascontiguousarray(umap[data.users[keep]]),
                        np.ascontiguousarray(imap[data.items[keep]]),
                        np.ascontiguousarray(data.values[keep]), data.user_ids[used_u], item_ids,
                        item_meta=meta, implicit=data.implicit, source=data.source,
                        n_duplicates_merged=data.n_duplicates_merged,
                        extra={**data.extra, "filter": info})

"""Seeded train / validation / test splits.

A split decides, for each row of the data in (user, item) order, which part it goes to; then
the rows are arranged once, train, validation and test side by side (each part keeping that
order), and the parts are slices of the arranged arrays (:attr:`Split.rows`): the rows exist once,
not once more per part. Parts keep the full id maps and share ``n_users``, ``n_items`` and the
dense indices. Data already arranged by a split (``runs``) is put back in (user, item) order
first, so a split never depends on how the rows it is given were arranged. Users or items that
appear outside training but not in it are *cold*: they are counted in ``Split.info`` and never
cause an error downstream.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from .errors import ConfigError, DataError
from .interactions import Interactions
from .rowindex import index_counts, index_offsets

SPLIT_KINDS = ("random", "user", "holdout", "time")


@dataclass
class Split:
    """The result of a split.

    Attributes
    ----------
    train : Interactions
    val, test : Interactions or None
    kind : {'random', 'user', 'holdout', 'time', 'none'}
    info : dict
        Always: ``seed``, ``n_train``, ``n_val``, ``n_test`` (rows), ``n_cold_users`` and
        ``n_cold_items`` (users/items with rows in val or test but none in train). Per kind:
        fractions, user counts, and for 'holdout' ``n_users_kept_whole``.
    rows : Interactions or None
        Every row, the parts side by side (train, val, test; its ``runs`` bound them): the parts
        are views of its arrays. None for a split put together by hand.
    """

    train: Interactions
    val: Interactions | None
    test: Interactions | None
    kind: str
    info: dict = field(default_factory=dict)
    rows: Interactions | None = None

    def over(self, rows: Interactions) -> "Split":
        """The same split of ``rows``: the same rows arranged as :attr:`rows` (after a change
        of values), its parts sliced from them."""
        return _parts(rows, self.kind, self.info)


def _check_frac(name: str, value, *, allow_zero: bool) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number in [0, 1), got {value!r}") from None
    lo_ok = f >= 0.0 if allow_zero else f > 0.0
    if not (lo_ok and f < 1.0):
        rng = "[0, 1)" if allow_zero else "(0, 1)"
        raise ConfigError(f"{name} must be in {rng}, got {value!r}")
    return f


def _check_sum(val_frac: float, test_frac: float) -> None:
    if val_frac + test_frac >= 1.0:
        raise ConfigError(f"val_frac + test_frac must be below 1 so that something is left to "
                          f"train on, got {val_frac} + {test_frac}")


def _cold_counts(train: Interactions, *others: Interactions | None) -> dict:
    in_train_u = index_counts(train.users, train.n_users) > 0
    in_train_i = index_counts(train.items, train.n_items) > 0
    out_u = np.zeros(train.n_users, dtype=bool)
    out_i = np.zeros(train.n_items, dtype=bool)
    for o in others:
        if o is not None and len(o):
            out_u[o.users] = True
            out_i[o.items] = True
    return {"n_cold_users": int(np.count_nonzero(out_u & ~in_train_u)),
            "n_cold_items": int(np.count_nonzero(out_i & ~in_train_i))}


def _make(data: Interactions, part: np.ndarray, kind: str, info: dict) -> Split:
    """``part`` holds 0 (train), 1 (val) or 2 (test) per row."""
    bounds = index_offsets(part, 3)  # where each part starts once arranged
    sizes = np.diff(bounds).tolist()
    if sizes[0] == 0:
        raise DataError("the split left no training rows; use smaller fractions",
                        source=data.source or None)
    info = {**info, "n_train": sizes[0], "n_val": sizes[1], "n_test": sizes[2]}
    rows = data if sizes[0] == len(data) else _arranged(data, part, bounds)
    split = _parts(rows, kind, info)
    split.info.update(_cold_counts(split.train, split.val, split.test))
    return split


def _arranged(data: Interactions, part: np.ndarray, bounds: np.ndarray) -> Interactions:
    """``data``'s rows of part 0 first, then part 1, then part 2, each keeping its order
    (``bounds``: where each part starts).

    A counting sort by part, one column at a time: besides the new columns it needs nothing
    of the rows' size (three masks, or an argsort's int64 order, would add 3 or 8 bytes a
    row).
    """
    from .rowgroup import grouped  # numba: only when rows are arranged

    columns = [data.users, data.items, data.values] + ([] if data.times is None
                                                       else [data.times])
    arranged = grouped(part, bounds, *columns)
    rows = replace(data, users=arranged[0], items=arranged[1], values=arranged[2],
                   runs=tuple(bounds.tolist()),
                   times=None if data.times is None else arranged[3])
    if "fingerprint" in data.__dict__:  # the same rows: no second hash of them
        rows.__dict__["fingerprint"] = data.fingerprint
    return rows


def _parts(rows: Interactions, kind: str, info: dict) -> Split:
    """The split of ``rows`` (train, val, test side by side, sized as ``info`` says)."""
    b = info["n_train"]
    c = b + info["n_val"]
    n = c + info["n_test"]
    if n != len(rows):
        raise ValueError(f"a split of {n} rows cannot be laid over {len(rows)} rows")
    val = rows.rows(b, c) if c > b else None
    test = rows.rows(c, n) if n > c else None
    return Split(rows.rows(0, b), val, test, kind, dict(info), rows)


def random_split(data: Interactions, val_frac: float = 0.2, test_frac: float = 0.0,
                 seed: int = 0) -> Split:
    """A seeded random fraction of all rows to validation (and optionally to test).

    Parameters
    ----------
    data : Interactions
    val_frac, test_frac : float
        Fractions of rows, each in [0, 1) with a sum below 1; the counts are rounded to the
        nearest row. A zero fraction gives ``None`` for that part.
    seed : int

    Returns
    -------
    Split
        ``kind='random'``.
    """
    val_frac = _check_frac("val_frac", val_frac, allow_zero=True)
    test_frac = _check_frac("test_frac", test_frac, allow_zero=True)
    _check_sum(val_frac, test_frac)
    n = len(data)
    n_val = int(round(val_frac * n))
    n_test = int(round(test_frac * n))
    # rng.permutation(n) shuffled in int32: the same order, half its 8 bytes a row.
    perm = np.arange(n, dtype=np.int32 if n < 2**31 else np.int64)
    np.random.default_rng(seed).shuffle(perm)
    part = np.zeros(n, dtype=np.int8)
    part[perm[:n_val]] = 1
    part[perm[n_val:n_val + n_test]] = 2
    del perm  # not to be held while the parts are copied out
    return _make(data, part, "random",
                 {"seed": seed, "val_frac": val_frac, "test_frac": test_frac})


def user_split(data: Interactions, val_frac: float = 0.15, test_frac: float = 0.15,
               seed: int = 0) -> Split:
    """Whole users (or playlists) to train, validation and test.

    Every validation/test user is cold by construction (scored by fold-in from part of their
    items). User counts are rounded to the nearest user, with at least one user for a non-zero
    fraction.

    Parameters
    ----------
    data : Interactions
    val_frac, test_frac : float
        Fractions of the users that have rows, each in [0, 1) with a sum below 1.
    seed : int

    Returns
    -------
    Split
        ``kind='user'``; ``info`` adds ``n_train_users``, ``n_val_users``, ``n_test_users``.
    """
    val_frac = _check_frac("val_frac", val_frac, allow_zero=True)
    test_frac = _check_frac("test_frac", test_frac, allow_zero=True)
    _check_sum(val_frac, test_frac)
    active = np.flatnonzero(data.user_counts() > 0)
    n = len(active)
    n_val = max(1, int(round(val_frac * n))) if val_frac > 0 else 0
    n_test = max(1, int(round(test_frac * n))) if test_frac > 0 else 0
    if n_val + n_test >= n:
        raise ConfigError(f"only {n} users: cannot put {n_val} in validation and {n_test} in "
                          f"test and keep any for training")
    perm = np.random.default_rng(seed).permutation(active)
    user_part = np.zeros(data.n_users, dtype=np.int8)
    user_part[perm[:n_val]] = 1
    user_part[perm[n_val:n_val + n_test]] = 2
    return _make(data, user_part[data.users], "user",
                 {"seed": seed, "val_frac": val_frac, "test_frac": test_frac,
                  "n_train_users": n - n_val - n_test, "n_val_users": n_val,
                  "n_test_users": n_test})


def holdout_split(data: Interactions, frac: float = 0.2, seed: int = 0,
                  min_items: int = 2) -> Split:
    """Per-user hold-out: a seeded fraction of each user's items to validation.

    A user with ``c >= min_items`` rows gets ``max(1, round(frac * c))`` of them held out,
    capped at ``c - 1`` so that every user keeps at least one training row (no user becomes
    cold). Users with fewer than ``min_items`` rows stay wholly in training and are counted in
    ``info['n_users_kept_whole']``. Items can still become cold.

    Parameters
    ----------
    data : Interactions
    frac : float
        In (0, 1).
    seed : int
    min_items : int
        >= 2.

    Returns
    -------
    Split
        ``kind='holdout'``, ``test`` is None; ``info`` adds ``frac``, ``min_items``,
        ``n_users_kept_whole``, ``n_users_heldout``.
    """
    # Negated: the rows with the smallest draws are held out, as this split always did.
    key = -np.random.default_rng(seed).random(len(data))
    return _per_user(data, frac, min_items, key, "holdout", {"seed": seed})


def time_split(data: Interactions, frac: float = 0.2, min_items: int = 2) -> Split:
    """Per-user split by time: each user's latest rows to validation, the earlier to training.

    As :func:`holdout_split`, with the held-out rows of a user being its *latest*
    ``max(1, round(frac * c))`` rows by :attr:`Interactions.times` instead of random ones (rows
    at the same time are ordered by item index, so the split needs no seed). A model is then
    judged on what each user did after what it was trained on, as in production.

    Raises
    ------
    DataError
        The data have no times (load a file with a timestamp column).
    """
    if data.times is None:
        raise DataError("the time split needs each row's time, and this dataset has none; "
                        "load a file with a timestamp column (such as MovieLens' ratings)",
                        source=data.source or None)
    return _per_user(data, frac, min_items, data.times, "time", {})


def _per_user(data: Interactions, frac: float, min_items: int, key: np.ndarray, kind: str,
              info: dict) -> Split:
    """Hold out each user's ``round(frac * c)`` rows that come last by ``key`` (see
    :func:`holdout_split` for the rules)."""
    frac = _check_frac("frac", frac, allow_zero=False)
    if isinstance(min_items, bool) or not isinstance(min_items, (int, np.integer)) or min_items < 2:
        raise ConfigError(f"min_items must be an integer >= 2, got {min_items!r}")
    counts = data.user_counts()
    n_hold = np.minimum(np.maximum(1, np.floor(frac * counts + 0.5)), counts - 1).astype(np.int64)
    n_hold[counts < min_items] = 0
    # By user, then by key, latest first (ties: the higher row last, i.e. first here).
    order = np.lexsort((-np.arange(len(data)), -key, data.users))
    sorted_users = data.users[order]
    starts = np.searchsorted(sorted_users, sorted_users, side="left")
    rank = np.arange(len(order)) - starts
    part = np.zeros(len(data), dtype=np.int8)
    part[order[rank < n_hold[sorted_users]]] = 1
    kept_whole = int(np.count_nonzero((counts > 0) & (counts < min_items)))
    return _make(data, part, kind,
                 {**info, "frac": frac, "min_items": int(min_items),
                  "n_users_kept_whole": kept_whole,
                  "n_users_heldout": int(np.count_nonzero(n_hold > 0))})


def make_split(data: Interactions, kind: str, *, val_frac: float = 0.2, test_frac: float = 0.0,
               seed: int = 0) -> Split:
    """The split named ``kind``, as the CLI and the dashboard offer it.

    Parameters
    ----------
    data : Interactions
    kind : {'random', 'holdout', 'time', 'user', 'none'}
        :func:`random_split`, :func:`holdout_split` (``val_frac`` of each user's items),
        :func:`time_split` (each user's latest ``val_frac`` of rows), :func:`user_split`
        (whole users), or everything in training.
    val_frac, test_frac : float
        Fractions for the validation and test parts (``test_frac`` is ignored by 'holdout').
    seed : int
    """
    data = data.canonical()
    if kind == "none":
        return _parts(data, "none", {"n_train": len(data), "n_val": 0, "n_test": 0})
    if kind == "random":
        return random_split(data, val_frac=val_frac, test_frac=test_frac, seed=seed)
    if kind == "holdout":
        return holdout_split(data, frac=val_frac, seed=seed)
    if kind == "time":
        return time_split(data, frac=val_frac)
    if kind == "user":
        return user_split(data, val_frac=val_frac, test_frac=test_frac, seed=seed)
    raise ConfigError(f"unknown split {kind!r}; expected one of "
                      f"{', '.join(SPLIT_KINDS + ('none',))}")

"""Between loading and training: count filters, a value transform, the split — one pipeline.

:func:`prepare` is what the command line, the dashboard and sweeps all call, with one set of
defaults (:class:`PrepOptions`), so the same data and settings give the same training rows
everywhere. Its pieces stay public: :func:`filter_min_counts` and :func:`transform` return a new
:class:`~mfcore.interactions.Interactions` and record what they did in the result's ``extra``
dict (a fresh dict: the input is never modified); the split is :func:`mfcore.split.make_split`.

A dataset is identified by ONE fingerprint: that of the data as loaded, before filters and
transform (:attr:`Prepared.fingerprint`). What was done to it is recorded beside it
(:attr:`Prepared.opts`), so runs on the same file with another transform still group as the same
dataset.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from functools import cached_property

import numpy as np

from .errors import ConfigError, DataError
from .interactions import Interactions
from .rowindex import index_counts
from .split import Split, make_split
from .values import map_float32

TRANSFORMS = ("none", "standardize", "log1p", "binary")

@dataclass(frozen=True)
class PrepOptions:
    """How :func:`prepare` filters, transforms and splits.

    Attributes
    ----------
    transform : {'auto', 'none', 'standardize', 'log1p', 'binary'}
        'auto' picks by the kind of data (:func:`default_transform`).
    min_user, min_item : int
        Minimum rows per user and per item (:func:`filter_min_counts`); 1 keeps everything.
    split : {'random', 'holdout', 'time', 'user', 'none'}
        See :func:`mfcore.split.make_split`.
    val_frac, test_frac : float
        Validation and test fractions (``test_frac`` is ignored by 'holdout').
    seed : int
        Seeds the split.
    """

    transform: str = "auto"
    min_user: int = 1
    min_item: int = 1
    split: str = "random"
    val_frac: float = 0.2
    test_frac: float = 0.0
    seed: int = 0


@dataclass
class Prepared:
    """A dataset ready for training.

    Attributes
    ----------
    display : Interactions
        The filtered rows with their values as loaded (what people read: play counts, not
        their logarithms), arranged as the split's parts (:attr:`Split.rows`), whose users and
        items arrays they share. Prepared with ``keep_loaded_values=False``: the same rows with
        the transformed values, the parts' own array.
    split : Split
        Train / validation / test parts of the filtered rows after the transform.
    opts : PrepOptions
        The options as applied ('auto' replaced by the transform it chose).
    fingerprint : str
        The fingerprint of the data as loaded: the dataset's identity in run records.
    rows_summary : dict
        :meth:`Interactions.summary` of the filtered rows with their values as loaded, taken
        before the transform.
    info : dict
        ``rows_removed_by_filters``, ``users_removed``, ``items_removed``.
    """

    display: Interactions
    split: Split
    opts: PrepOptions
    fingerprint: str
    rows_summary: dict
    info: dict = field(default_factory=dict)

    @property
    def train(self) -> Interactions:
        return self.split.train

    @property
    def val(self) -> Interactions | None:
        return self.split.val

    @property
    def unfiltered(self) -> bool:
        """True when no count filter was applied: :attr:`display` holds every row and id of the
        data as loaded, so a caller can keep it in place of that data (not the rows twice)."""
        return self.opts.min_user == 1 and self.opts.min_item == 1

    def summary(self) -> dict:
        """The dataset as a run record stores it: sizes and values of the filtered rows as
        loaded (:attr:`rows_summary`), the :attr:`fingerprint` and the options applied
        (``prepare``)."""
        return {**self.rows_summary, "fingerprint": self.fingerprint,
                "prepare": asdict(self.opts)}

    # Computed once per preparation, not on every rerun of a page that lists users and songs
    # (read-only, so sessions may share them).
    @cached_property
    def item_names(self) -> np.ndarray:
        """Every item's readable name (:meth:`Interactions.item_labels`), as an object array."""
        return np.asarray(self.display.item_labels(np.arange(self.display.n_items)),
                          dtype=object)

    @cached_property
    def user_names(self) -> np.ndarray:
        """Every user's readable name (:meth:`Interactions.user_labels`), as an object array."""
        return np.asarray(self.display.user_labels(np.arange(self.display.n_users)),
                          dtype=object)

    @cached_property
    def item_search_keys(self):
        """Every item's searchable text (:func:`mfcore.catalogue.search_keys`)."""
        from .catalogue import search_keys
        return search_keys(self.item_names, self.display.item_ids)

    @cached_property
    def user_counts(self) -> np.ndarray:
        return self.display.user_counts()

    @cached_property
    def item_counts(self) -> np.ndarray:
        return self.display.item_counts()

    @cached_property
    def users_by_activity(self) -> np.ndarray:
        """User indices, the most active first (ties by index)."""
        return np.argsort(-self.user_counts, kind="stable")

    @cached_property
    def items_by_popularity(self) -> np.ndarray:
        """Item indices, the most listened first (ties by index)."""
        return np.argsort(-self.item_counts, kind="stable")


def prepare(data: Interactions, options: PrepOptions | None = None, *,
            keep_loaded_values: bool = True) -> Prepared:
    """Filter, transform and split ``data`` as ``options`` say (all seeded).

    Parameters
    ----------
    data : Interactions
        The data as loaded; never changed.
    options : PrepOptions, optional
        Default ``PrepOptions()``: no filters, the transform chosen by the kind of data, a random
        20 % validation split with seed 0.
    keep_loaded_values : bool, optional
        Keep the values as loaded in :attr:`Prepared.display`, beside the transformed ones
        (the dashboard shows them). False, for a caller that shows no rows (the command line):
        the transform overwrites the split's own copy of the values, and ``display`` holds the
        transformed values; 4 bytes a row less (48M rows: 0.18 GiB).

    Returns
    -------
    Prepared

    Raises
    ------
    ConfigError
        An unknown transform or split, a bad threshold or fraction.
    DataError
        Nothing left after the filters or for training, log1p of values <= -1.
    """
    opts = options or PrepOptions()
    if opts.transform != "auto" and opts.transform not in TRANSFORMS:
        raise ConfigError(f"unknown transform {opts.transform!r}; expected 'auto' or one of "
                          f"{', '.join(TRANSFORMS)}")
    filtered = data
    if opts.min_user != 1 or opts.min_item != 1:
        filtered = filter_min_counts(data, min_user=opts.min_user, min_item=opts.min_item)
    kind = default_transform(data) if opts.transform == "auto" else opts.transform
    fingerprint = data.fingerprint
    # Split first, transform after: the split never looks at values, and so the displayed rows
    # and the parts share one arrangement of users and items (only the values differ).
    sp = make_split(filtered, opts.split, val_frac=opts.val_frac, test_frac=opts.test_frac,
                    seed=opts.seed)
    info = {"rows_removed_by_filters": len(data) - len(filtered),
            "users_removed": data.n_users - filtered.n_users,
            "items_removed": data.n_items - filtered.n_items}
    rows_summary = sp.rows.summary()  # of the values as loaded, before any is overwritten
    # The split's rows are a copy unless it kept the rows as they were (no arrangement needed):
    # only a copy may be transformed in place.
    in_place = (not keep_loaded_values
                and not np.may_share_memory(sp.rows.values, data.values))
    # The displayed rows' identity (saved with a model) is theirs as loaded: hashed first.
    rows_fingerprint = None if keep_loaded_values else sp.rows.fingerprint
    transformed = transform(sp.rows, kind, out=sp.rows.values if in_place else None)
    if rows_fingerprint is not None:
        transformed.__dict__["fingerprint"] = rows_fingerprint
    return Prepared(display=sp.rows if keep_loaded_values else transformed,
                    split=sp.over(transformed), opts=replace(opts, transform=kind),
                    fingerprint=fingerprint, info=info, rows_summary=rows_summary)


def default_transform(data: Interactions) -> str:
    """The transform 'auto' stands for: 'log1p' for play counts, 'none' for anything else.

    Play counts (:attr:`Interactions.kind` ``'counts'``: whole numbers reaching above 10) are
    heavy-tailed, and SGD on the raw counts diverges at the usual learning rates (one error of
    a few thousand plays times γ throws the factors to infinity: the README's own ``train``
    example did on the MSD file); log(1 + count) keeps every preference's order and bounds the
    errors, which is why the dashboard has always defaulted to it. Ratings (a bounded scale such
    as MovieLens' 1–5) are trained as they are, so RMSE stays on the rating scale and
    comparable with published figures; implicit data (all ones) have nothing to tame.
    """
    return "log1p" if data.kind == "counts" and float(data.values.min()) >= 0 else "none"


def transform(data: Interactions, kind: str, *, out: np.ndarray | None = None) -> Interactions:
    """Transform the values of ``data``.

    Parameters
    ----------
    data : Interactions
        The interactions to transform; left unchanged unless ``out`` is its values.
    kind : {'none', 'standardize', 'log1p', 'binary'}
        - ``'none'``: values as they are.
        - ``'standardize'``: ``(x - mean) / std`` over all rows (population std, as the MSD
          notebook's); ``mean`` and ``std`` are recorded. A
          constant column (std 0) is only centred (std recorded as 1).
        - ``'log1p'``: ``log(1 + x)``; values must be > -1.
        - ``'binary'``: every observed pair becomes 1 and the data is marked implicit.
    out : ndarray of float32, optional
        Where the new values are written (``data.values`` itself: in place, leaving ``data``
        with the new values). Default: a new array. Unused by 'none'.

    Returns
    -------
    Interactions
        A new object whose ``extra['transform']`` is a dict ``{'kind': ..., ...}`` (with ``mean``
        and ``std`` for 'standardize', enough to map predictions back).

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
    # The kind of values is the raw data's (log1p counts are still counts); read before ``out``
    # may overwrite them.
    extra = {**data.extra, "transform": info, "kind": data.kind}
    if kind == "none":
        new = v
    elif kind == "standardize":
        mean = float(v.mean(dtype=np.float64)) if len(v) else 0.0
        std = float(v.std(dtype=np.float64)) if len(v) else 1.0
        if not np.isfinite(std) or std <= 0.0:
            std = 1.0
        new = map_float32(lambda x: (x.astype(np.float64) - mean) / std, v, out=out)
        info.update(mean=mean, std=std)
    elif kind == "log1p":
        if len(v) and float(v.min()) <= -1.0:
            raise DataError(f"log1p needs values > -1; the smallest value is {float(v.min())}",
                            source=data.source or None)
        new = map_float32(lambda x: np.log1p(x.astype(np.float64)), v, out=out)
    else:  # binary
        new = np.ones(len(v), dtype=np.float32) if out is None else out
        new[...] = 1
        implicit = True
    return replace(data, values=np.ascontiguousarray(new, dtype=np.float32), implicit=implicit,
                   extra=extra)


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
    data = data.canonical()
    keep = np.ones(len(data), dtype=bool)
    rounds = 0
    while True:
        rounds += 1
        uc = index_counts(data.users[keep], data.n_users)
        ic = index_counts(data.items[keep], data.n_items)
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
    user_meta = data.user_meta
    if user_meta is not None:
        user_meta = user_meta[user_meta.index.isin(data.user_ids[used_u])]
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
                        extra={**data.extra, "filter": info}, user_meta=user_meta,
                        times=None if data.times is None else data.times[keep])

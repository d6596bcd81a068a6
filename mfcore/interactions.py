"""The one in-memory dataset type every stage of mfcore passes along.

Rows are (user, item, value) with users and items as dense ``int32`` indices; the raw ids live
once per distinct user or item, never once per row, so a 48M-row file costs about 12 bytes a row.
pandas is imported by the methods that use it: the command line's parser imports this module
(through :mod:`mfcore.prepare`), and must start without pandas.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

from .errors import DataError
from .rowindex import index_counts, index_offsets, nondecreasing, strictly_sorted, user_spans
from .values import whole_numbers

if TYPE_CHECKING:
    import pandas as pd

DUPLICATE_POLICIES = ("sum", "max", "last", "first", "error")


#: What the values of a dataset can be (see :attr:`Interactions.kind`).
VALUE_KINDS = ("ratings", "counts", "binary")


@dataclass(frozen=True, eq=False)
class Interactions:
    """User–item interactions with dense indices and the raw ids behind them.

    Parameters
    ----------
    users, items : ndarray of int32, shape (n,)
        Dense indices into ``user_ids`` and ``item_ids``.
    values : ndarray of float32, shape (n,)
        Play counts, ratings, or ones for implicit data.
    user_ids, item_ids : ndarray
        Raw ids; ``user_ids[users[r]]`` is the raw user of row ``r``.
    item_meta : DataFrame, optional
        Display metadata indexed by raw item id (columns such as ``title``, ``artist``).
    implicit : bool
        True when values only say "observed" (playlists), not how much.
    source : str
        Where the data came from, for messages and the run history.
    n_duplicates_merged : int
        Rows folded into another row with the same (user, item).
    extra : dict
        What loaders and transforms record (format, header, transform, kind...).
    times : ndarray of float64, shape (n,), optional
        When each row happened (e.g. MovieLens' Unix timestamps), for the time split
        (:func:`mfcore.split.time_split`); None when the data have no time column.
    user_meta : DataFrame, optional
        Display metadata indexed by raw user id (column ``name``: a playlist's name).
    runs : tuple of int
        Empty for rows sorted by (user, item), as :meth:`from_codes` leaves them; else bounds
        ``0 = runs[0] <= ... = n`` of runs each sorted by (user, item): a split's parts side by
        side (:attr:`mfcore.split.Split.rows`). :meth:`canonical` merges them.
    """

    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    item_meta: pd.DataFrame | None = None
    implicit: bool = False
    source: str = ""
    n_duplicates_merged: int = 0
    extra: dict = field(default_factory=dict)
    times: np.ndarray | None = None
    user_meta: pd.DataFrame | None = None
    runs: tuple = ()

    def __post_init__(self) -> None:
        n = len(self.users)
        if self.runs and (self.runs[0] != 0 or self.runs[-1] != n
                          or any(b < a for a, b in zip(self.runs, self.runs[1:]))):
            raise ValueError(f"runs must rise from 0 to the {n} rows, got {self.runs}")
        if len(self.items) != n or len(self.values) != n:
            raise ValueError("users, items and values must have the same length")
        if self.times is not None and (len(self.times) != n or self.times.dtype != np.float64):
            raise TypeError("times must be a float64 array with one value per row")
        if self.users.dtype != np.int32 or self.items.dtype != np.int32:
            raise TypeError("users and items must be int32 arrays")
        if self.values.dtype != np.float32:
            raise TypeError("values must be a float32 array")

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_raw(cls, users_raw, items_raw, values=None, *, duplicates: str = "sum",
                 source: str = "", implicit: bool = False,
                 item_meta: pd.DataFrame | None = None, times=None,
                 user_meta: pd.DataFrame | None = None) -> "Interactions":
        """Build from raw id columns, merging duplicate (user, item) rows.

        Parameters
        ----------
        users_raw, items_raw : array-like
            Raw user and item ids, one per row.
        values : array-like of float, optional
            One value per row; ones when omitted (implicit data).
        duplicates : {'sum', 'max', 'last', 'first', 'error'}
            What to do with repeated (user, item) rows.
        times : array-like of float, optional
            When each row happened (see :meth:`from_codes`).
        """
        import pandas as pd

        user_codes, user_ids = pd.factorize(np.asarray(users_raw), sort=False)
        item_codes, item_ids = pd.factorize(np.asarray(items_raw), sort=False)
        if values is None:
            values = np.ones(len(user_codes), dtype=np.float32)
        return cls.from_codes(user_codes, item_codes, values, np.asarray(user_ids),
                              np.asarray(item_ids), duplicates=duplicates, source=source,
                              implicit=implicit, item_meta=item_meta, times=times,
                              user_meta=user_meta)

    @classmethod
    def from_codes(cls, users, items, values, user_ids, item_ids, *, duplicates: str = "sum",
                   source: str = "", implicit: bool = False,
                   item_meta: pd.DataFrame | None = None, times=None,
                   user_meta: pd.DataFrame | None = None) -> "Interactions":
        """Build from dense codes already computed by a loader, merging duplicates.

        Values must already be finite; rows end up sorted by (user, item). ``times`` (one per
        row, optional) follow their rows; a merged pair keeps the latest time of its rows.
        """
        if duplicates not in DUPLICATE_POLICIES:
            raise DataError(f"unknown duplicate policy {duplicates!r}; expected one of "
                            f"{', '.join(DUPLICATE_POLICIES)}", source=source or None)
        users = np.asarray(users).astype(np.int32, copy=False)
        items = np.asarray(items).astype(np.int32, copy=False)
        values = np.asarray(values, dtype=np.float32)
        if times is not None:
            times = np.asarray(times, dtype=np.float64)
            if len(times) != len(users):
                raise DataError(f"{len(times):,} times for {len(users):,} rows",
                                source=source or None)
        if len(users) == 0:
            raise DataError("no interactions: the data is empty", source=source or None)
        n_dups = 0
        # A file grouped by user is often already sorted by (user, item) without duplicates:
        # then there is nothing to sort or merge, and no n-sized int64 key to build.
        if not strictly_sorted(users, items, max(len(item_ids), 1)):
            key = users.astype(np.int64) * np.int64(max(len(item_ids), 1)) + items
            if not np.all(key[1:] >= key[:-1]):    # sorted but with duplicates: keep the order
                order = np.argsort(key, kind="stable")
                key = key[order]
                users, items, values = users[order], items[order], values[order]
                times = times[order] if times is not None else None
            is_new = np.empty(len(key), dtype=bool)
            is_new[0] = True
            np.not_equal(key[1:], key[:-1], out=is_new[1:])
            n_dups = int(len(key) - np.count_nonzero(is_new))
            if n_dups:
                if duplicates == "error":
                    first = int(np.flatnonzero(~is_new)[0])
                    pair = (np.asarray(user_ids)[users[first]], np.asarray(item_ids)[items[first]])
                    pair = tuple(x.item() if isinstance(x, np.generic) else x for x in pair)
                    raise DataError(f"duplicate (user, item) pair {pair!r} and the duplicate "
                                    "policy is 'error'", source=source or None)
                starts = np.flatnonzero(is_new)
                if duplicates == "sum":
                    merged = _sum_within_float32(values, starts, users, items, user_ids,
                                                 item_ids, source)
                elif duplicates == "max":
                    merged = np.maximum.reduceat(values, starts)
                elif duplicates == "first":
                    merged = values[starts]
                else:  # last
                    ends = np.append(starts[1:], len(values)) - 1
                    merged = values[ends]
                if times is not None:
                    times = np.maximum.reduceat(times, starts)
                users, items, values = users[starts], items[starts], merged
        return cls(np.ascontiguousarray(users), np.ascontiguousarray(items),
                   np.ascontiguousarray(values), np.asarray(user_ids), np.asarray(item_ids),
                   item_meta=item_meta, implicit=implicit, source=source,
                   n_duplicates_merged=n_dups, user_meta=user_meta,
                   times=None if times is None else np.ascontiguousarray(times))

    # ---- sizes --------------------------------------------------------------------------
    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.users)

    @property
    def density(self) -> float:
        return len(self) / max(self.n_users * self.n_items, 1)

    def nbytes(self) -> int:
        """Bytes held by the row arrays (what the loader's memory target is measured against)."""
        return (self.users.nbytes + self.items.nbytes + self.values.nbytes
                + (0 if self.times is None else self.times.nbytes))

    def summary(self) -> dict:
        """Sizes and value statistics, as plain Python numbers."""
        v = self.values
        return {
            "source": self.source, "n_users": self.n_users, "n_items": self.n_items,
            "n_interactions": len(self), "density": self.density,
            "n_duplicates_merged": self.n_duplicates_merged, "implicit": self.implicit,
            "value_min": float(v.min()) if len(v) else None,
            "value_max": float(v.max()) if len(v) else None,
            "value_mean": float(v.mean(dtype=np.float64)) if len(v) else None,
        }

    # ---- id maps ------------------------------------------------------------------------
    @cached_property
    def _user_index(self) -> pd.Index:
        import pandas as pd

        return pd.Index(self.user_ids)

    @cached_property
    def _item_index(self) -> pd.Index:
        import pandas as pd

        return pd.Index(self.item_ids)

    def user_index(self, raw_ids) -> np.ndarray:
        """Dense indices of raw user ids; -1 for unknown ids."""
        return self._user_index.get_indexer(np.atleast_1d(np.asarray(raw_ids, dtype=self.user_ids.dtype))).astype(np.int64)

    def item_index(self, raw_ids) -> np.ndarray:
        """Dense indices of raw item ids; -1 for unknown ids."""
        return self._item_index.get_indexer(np.atleast_1d(np.asarray(raw_ids, dtype=self.item_ids.dtype))).astype(np.int64)

    def item_labels(self, idx) -> list[str]:
        """Readable names of items: "title — artist" from metadata when present, else the raw id.

        Vectorised over ``idx``: all 200k tracks of an MPD sample take well under a second.
        """
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        labels = [str(r) for r in self.item_ids[idx]]
        if self.item_meta is None or len(self.item_meta) == 0:
            return labels
        meta = self.item_meta.reindex(self.item_ids[idx])
        cols = [meta[c].astype(object).where(meta[c].notna(), None).to_numpy()
                for c in ("title", "artist") if c in meta.columns]
        for n, parts in enumerate(zip(*cols)):
            named = [str(p) for p in parts if p is not None]
            if named:
                labels[n] = " — ".join(named)
        return labels

    def user_labels(self, idx) -> list[str]:
        """Readable names of users: ``"name · id"`` from ``user_meta`` (a playlist's name) when
        present, else the raw id."""
        idx = np.atleast_1d(np.asarray(idx, dtype=np.int64))
        ids = [str(r) for r in self.user_ids[idx]]
        if self.user_meta is None or "name" not in self.user_meta.columns:
            return ids
        names = self.user_meta["name"].reindex(self.user_ids[idx]).to_numpy(dtype=object)
        return [f"{n} · {i}" if isinstance(n, str) and n else i for n, i in zip(names, ids)]

    # ---- derived views ------------------------------------------------------------------
    def user_counts(self) -> np.ndarray:
        return index_counts(self.users, self.n_users)

    def item_counts(self) -> np.ndarray:
        return index_counts(self.items, self.n_items)

    def csr(self, by: str = "user") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Compressed rows ``(indptr, indices, values)`` grouped by ``'user'`` or ``'item'``.

        The user side is views of the rows (they are sorted by user). The item side is a
        sorted copy, kept for the next call.
        """
        if by == "user":
            # Rows in runs are grouped afresh on each call: a cached copy would be the second
            # copy of the rows that keeping them in runs avoids.
            return self._csr_user if not self.runs else \
                _to_csr(self.users, self.items, self.values, self.n_users)
        return self._csr_item

    @cached_property
    def _csr_user(self):
        return _to_csr(self.users, self.items, self.values, self.n_users)

    @cached_property
    def _csr_item(self):
        return _to_csr(self.items, self.users, self.values, self.n_items)

    def user_rows(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        """``(items, values)`` of one user's rows, without grouping every row by user."""
        if not self.runs:
            indptr, items, values = self.csr("user")
            return items[indptr[user]:indptr[user + 1]], values[indptr[user]:indptr[user + 1]]
        if not 0 <= user < self.n_users:
            raise IndexError(f"user {user} is not one of the {self.n_users} users")
        spans = user_spans(self.users, self.runs, user, user + 1)
        return (np.concatenate([self.items[lo:hi] for lo, hi in spans]),
                np.concatenate([self.values[lo:hi] for lo, hi in spans]))

    def subset(self, rows) -> "Interactions":
        """The rows selected by a boolean mask or index array; id maps are kept whole."""
        runs = () if not self.runs or np.asarray(rows).dtype != bool else (  # a mask keeps
            0, *np.cumsum([np.count_nonzero(rows[a:b])           # each run's order
                           for a, b in zip(self.runs, self.runs[1:])]).tolist())
        return replace(self, users=self.users[rows], items=self.items[rows],
                       values=self.values[rows], n_duplicates_merged=0,
                       times=None if self.times is None else self.times[rows], runs=runs)

    def rows(self, start: int, stop: int) -> "Interactions":
        """Rows ``start:stop`` as views of this dataset's arrays (one run of it: sorted)."""
        return replace(self, users=self.users[start:stop], items=self.items[start:stop],
                       values=self.values[start:stop], n_duplicates_merged=0, runs=(),
                       times=None if self.times is None else self.times[start:stop])

    def canonical(self) -> "Interactions":
        """The same rows sorted by (user, item): this dataset when they are, else a copy of its
        :attr:`runs` merged."""
        if not self.runs:
            return self
        from .rowgroup import merge_order  # numba: only when runs are merged
        out = replace(self.subset(merge_order(self.users, self.items, self.runs)),
                      n_duplicates_merged=self.n_duplicates_merged)
        out.__dict__.update({k: v for k, v in self.__dict__.items() if k == "fingerprint"})
        return out

    @cached_property
    def kind(self) -> str:
        """What the values are: ``'ratings'``, ``'counts'`` (play counts) or ``'binary'``.

        ``extra['kind']`` when a loader, a transform or :meth:`with_kind` set it; else binary for
        implicit data, counts when the values are whole numbers reaching above 10 (rating scales
        stop at 5 or 10; the MSD sample's largest count is 796, the full file's 9,667), ratings
        otherwise. It picks the solver and defaults
        (:mod:`mfcore.train.presets`).
        """
        if self.extra.get("kind") in VALUE_KINDS:
            return self.extra["kind"]
        if self.implicit:
            return "binary"
        v = self.values
        if len(v) and float(v.max()) > 10 and whole_numbers(v):
            return "counts"
        return "ratings"

    def with_kind(self, kind: str) -> "Interactions":
        """The same rows declared to hold ``kind`` values (one of :data:`VALUE_KINDS`)."""
        if kind not in VALUE_KINDS:
            raise DataError(f"the kind of values must be one of {', '.join(VALUE_KINDS)}, "
                            f"got {kind!r}", source=self.source or None)
        return replace(self, implicit=kind == "binary", extra={**self.extra, "kind": kind})

    def with_values(self, values: np.ndarray) -> "Interactions":
        """The same rows with new values (after a transform)."""
        return replace(self, values=np.ascontiguousarray(values, dtype=np.float32))

    @cached_property
    def fingerprint(self) -> str:
        """A short hash of the rows and ids: two datasets with the same fingerprint are equal.

        Rows in runs are hashed in (user, item) order: the same rows give the same fingerprint
        however a split arranged them.
        """
        h = hashlib.blake2b(digest_size=12)
        if self.runs:
            from .rowgroup import merged_column  # a chunk at a time: never a merged copy
        for a in (self.users, self.items, self.values) + (
                () if self.times is None else (self.times,)):
            for part in merged_column(a, self.users, self.items, self.runs) if self.runs else [a]:
                h.update(np.ascontiguousarray(part).view(np.uint8))
        for ids in (self.user_ids, self.item_ids):
            h.update(str(len(ids)).encode())
            h.update("\x1f".join(map(str, ids[:1000])).encode())
            h.update("\x1f".join(map(str, ids[-1000:])).encode())
        return h.hexdigest()


def _sum_within_float32(values, starts, users, items, user_ids, item_ids, source) -> np.ndarray:
    """Duplicate rows summed (in float64), refused when a sum leaves float32's range."""
    sums = np.add.reduceat(values.astype(np.float64), starts)
    big = np.abs(sums) > np.finfo(np.float32).max
    if big.any():
        j = int(np.flatnonzero(big)[0])
        r = starts[j]
        raise DataError(f"the repeated rows of (user {_py(user_ids[users[r]])!r}, item "
                        f"{_py(item_ids[items[r]])!r}) sum to {sums[j]:.6g}, beyond float32's "
                        f"range ({np.finfo(np.float32).max:.4g}); values are stored as float32: "
                        "choose "
                        "duplicates='max' (or 'first'/'last') or rescale the values",
                        source=source or None, field="duplicates")
    return sums.astype(np.float32)


def _py(x):
    """A numpy scalar as the Python value (so messages show 'a', not np.str_('a'))."""
    return x.item() if isinstance(x, np.generic) else x


def _to_csr(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, n_rows: int):
    indptr = index_offsets(rows, n_rows)
    if nondecreasing(rows):
        # Rows are kept sorted by user (from_arrays; subsets keep the order), so the user side
        # is views of the arrays themselves: no second copy of the rows (48M rows: 0.3 GiB).
        return indptr, cols, vals
    from .rowgroup import group_rows  # numba: only when a side is regrouped
    return (indptr, *group_rows(rows, cols, vals, indptr))

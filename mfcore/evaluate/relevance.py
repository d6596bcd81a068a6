"""What is relevant and what is a candidate, per definition (see :mod:`mfcore.evaluate.ranking`).

Both come as CSR arrays over the subjects (users, or items for the fans direction), the shape
:func:`mfcore.evaluate.rank_kernel.rank_rows` reads.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..interactions import Interactions
from ..rowindex import index_offsets, strictly_sorted


def relevance(definition, direction, train, heldout, full_data, threshold, k_fav):
    """Relevant and excluded candidates of every subject under ``definition``.

    Returns
    -------
    rel : (indptr int64, indices int32, rank int64)
        Relevant candidates, sorted within a subject; a favourite's rank in the subject's
        play-count order (0 for every held-out item), so the relevant set at cut-off k is the
        entries of rank < k. Favourites are kept up to ``k_fav``.
    excl : (indptr int64, indices int32)
        Candidates left out (the subject's training rows in the held-out definition).
    n_cands : int64 (n_subjects,)
        Candidates per subject.
    """
    n_subj, n_cand = (train.n_users, train.n_items) if direction == "users" else \
        (train.n_items, train.n_users)
    if definition == "heldout":
        if heldout is None:
            raise ConfigError("the held-out definition needs the held-out set (heldout=...)")
        hs, hc = _sides(heldout, direction)
        if threshold is not None:
            keep = heldout.values >= threshold
            hs, hc = hs[keep], hc[keep]
        rel = sorted_csr(hs, hc, n_subj)
        excl_indptr, excl_indices, _ = train.csr("user" if direction == "users" else "item")
        excl = (np.ascontiguousarray(excl_indptr, dtype=np.int64),
                np.ascontiguousarray(excl_indices, dtype=np.int32))
        return rel, excl, n_cand - np.diff(excl[0])
    if full_data is None:
        full = train if heldout is None or len(heldout) == 0 else Interactions.from_codes(
            np.concatenate([train.users, heldout.users]),
            np.concatenate([train.items, heldout.items]),
            np.concatenate([train.values, heldout.values]),
            train.user_ids, train.item_ids, duplicates="sum")
    else:
        check_same_maps("full_data", full_data, train)
        full = full_data
    excl = (np.zeros(n_subj + 1, dtype=np.int64), np.zeros(0, dtype=np.int32))
    return _favourites(full, direction, n_subj, k_fav), excl, np.full(n_subj, n_cand, np.int64)


def _favourites(full: Interactions, direction: str, n_subj: int, k_eff: int):
    """Relevant CSR of each subject's ``k_eff`` most-played candidates (ties: lower index), with
    each one's rank in that order (so the favourites at any k <= k_eff are those of rank < k)."""
    subj, cand = _sides(full, direction)
    order = np.lexsort((cand, -full.values.astype(np.float64), subj))
    s_sorted = subj[order]
    rank = np.arange(len(order)) - np.searchsorted(s_sorted, s_sorted, side="left")
    keep = rank < k_eff
    return sorted_csr(subj[order[keep]], cand[order[keep]], n_subj, rank[keep])


def sorted_csr(rows: np.ndarray, cols: np.ndarray, n_rows: int, rank=None):
    """CSR (indptr int64, indices int32, rank int64) with indices sorted within each row;
    ``rank`` (default 0) travels with its entry."""
    indptr = index_offsets(rows, n_rows)
    rank = np.zeros(len(rows), np.int64) if rank is None else np.asarray(rank, np.int64)
    if strictly_sorted(rows, cols, max(int(cols.max(initial=0)) + 1, 1)):
        # Held-out rows come sorted by (user, item), as every Interactions does: no lexsort
        # (seconds at 10M rows, for a 1,000-user sample as for everyone).
        return indptr, np.ascontiguousarray(cols, dtype=np.int32), rank
    order = np.lexsort((cols, rows))
    return (indptr, np.ascontiguousarray(cols[order], dtype=np.int32),
            np.ascontiguousarray(rank[order]))


def _sides(data: Interactions, direction: str):
    """(subject column, candidate column) of ``data`` for a direction."""
    return (data.users, data.items) if direction == "users" else (data.items, data.users)


def check_same_maps(name: str, d: Interactions, train: Interactions) -> None:
    if d.n_users != train.n_users or d.n_items != train.n_items:
        raise ConfigError(f"{name} has {d.n_users} users × {d.n_items} items but train has "
                          f"{train.n_users} × {train.n_items}: they must come from one split "
                          f"(sharing id maps)")

"""Interactions: the one dataset type (construction, duplicates, id maps, views, kind, fingerprint)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mfcore.errors import DataError
from mfcore.interactions import Interactions
from mfcore.rowindex import index_counts

ROWS = [("b", "y", 2.0), ("a", "x", 1.0), ("a", "z", 4.0), ("a", "x", 3.0)]


def build(rows=ROWS, **kw) -> Interactions:
    users, items, values = zip(*rows)
    return Interactions.from_raw(list(users), list(items), list(values), **kw)


def triples(d: Interactions) -> list[tuple]:
    return [(d.user_ids[u], d.item_ids[i], float(v))
            for u, i, v in zip(d.users, d.items, d.values)]


@pytest.mark.parametrize("policy,merged", [("sum", 4.0), ("max", 3.0), ("first", 1.0),
                                           ("last", 3.0)])
def test_duplicates_are_merged_by_the_policy_and_rows_sorted(policy, merged):
    d = build(duplicates=policy)
    assert list(d.user_ids) == ["b", "a"] and list(d.item_ids) == ["y", "x", "z"]  # first seen
    assert triples(d) == [("b", "y", 2.0), ("a", "x", merged), ("a", "z", 4.0)]  # by (user, item)
    assert d.n_duplicates_merged == 1 and len(d) == 3
    assert d.users.dtype == d.items.dtype == np.int32 and d.values.dtype == np.float32


def test_bad_construction_is_refused_with_the_reason():
    with pytest.raises(DataError, match=r"duplicate \(user, item\) pair \('a', 'x'\)"):
        build(duplicates="error")
    with pytest.raises(DataError, match="unknown duplicate policy 'mean'"):
        build(duplicates="mean")
    with pytest.raises(DataError, match="empty"):
        Interactions.from_raw([], [], [])
    one = np.zeros(1, np.int32)
    with pytest.raises(TypeError, match="float32"):
        Interactions(one, one, np.zeros(1), np.arange(1), np.arange(1))
    with pytest.raises(ValueError, match="same length"):
        Interactions(one, one, np.zeros(2, np.float32), np.arange(1), np.arange(1))


def test_sizes_counts_and_compressed_rows():
    d = build()
    assert (d.n_users, d.n_items) == (2, 3) and d.density == pytest.approx(3 / 6)
    assert d.user_counts().tolist() == [1, 2] and d.item_counts().tolist() == [1, 1, 1]
    indptr, items, values = d.csr("user")
    assert indptr.tolist() == [0, 1, 3] and items.tolist() == [0, 1, 2]
    assert values.tolist() == [2.0, 4.0, 4.0]
    indptr, users, _ = d.csr("item")
    assert indptr.tolist() == [0, 1, 2, 3] and users.tolist() == [0, 1, 1]
    s = d.summary()
    assert (s["n_interactions"], s["value_min"], s["value_max"]) == (3, 2.0, 4.0)


def test_user_side_rows_are_views_of_sorted_rows_and_a_sorted_copy_otherwise():
    rng = np.random.default_rng(0)
    d = Interactions.from_codes(rng.integers(0, 50, 2000), rng.integers(0, 40, 2000),
                                rng.random(2000).astype(np.float32) + 1, np.arange(50),
                                np.arange(40), duplicates="max")
    indptr, items, values = d.csr("user")
    # Rows are kept sorted by user, so the user side costs no second copy of them.
    assert np.shares_memory(items, d.items) and np.shares_memory(values, d.values)
    assert indptr[-1] == len(d) and np.all(np.diff(indptr) == d.user_counts())
    shuffled = d.subset(rng.permutation(len(d)))  # a subset in any order still groups right
    indptr2, items2, values2 = shuffled.csr("user")
    assert not np.shares_memory(items2, shuffled.items)
    for u in range(d.n_users):
        a = sorted(zip(items[indptr[u]:indptr[u + 1]], values[indptr[u]:indptr[u + 1]]))
        b = sorted(zip(items2[indptr2[u]:indptr2[u + 1]], values2[indptr2[u]:indptr2[u + 1]]))
        assert a == b


def test_id_maps_labels_and_subsets():
    meta = pd.DataFrame({"title": ["Heat", None], "artist": ["Band", None]}, index=["x", "z"])
    d = build(item_meta=meta)
    assert d.user_index(["a", "nobody"]).tolist() == [1, -1]
    assert d.item_index("z").tolist() == [2]
    assert d.item_labels([1, 2, 0]) == ["Heat — Band", "z", "y"]  # no name: the raw id
    part = d.subset(d.users == 1)
    assert (part.n_users, part.n_items, len(part)) == (2, 3, 2)  # id maps kept whole
    assert part.n_duplicates_merged == 0


def test_kind_of_values():
    assert build().kind == "ratings"  # small numbers: a rating scale
    counts = build([("a", "x", 12.0), ("b", "x", 1.0)])
    assert counts.kind == "counts"
    assert build([("a", "x", 12.5), ("b", "x", 1.0)]).kind == "ratings"  # not whole numbers
    implicit = Interactions.from_raw(["a", "b"], ["x", "x"], implicit=True)
    assert implicit.kind == "binary" and implicit.values.tolist() == [1.0, 1.0]
    declared = counts.with_kind("binary")
    assert declared.kind == "binary" and declared.implicit
    with pytest.raises(DataError, match="must be one of ratings, counts, binary"):
        counts.with_kind("stars")


def test_fingerprint_follows_the_content():
    a, b = build(), build()
    assert a.fingerprint == b.fingerprint
    assert a.with_values(a.values * 2).fingerprint != a.fingerprint
    assert build(duplicates="max").fingerprint != a.fingerprint


def test_index_counts_is_bincount_a_slice_at_a_time():
    idx = np.random.default_rng(1).integers(0, 37, 10_001).astype(np.int32)
    got = index_counts(idx, 40, chunk=1000)
    assert got.dtype == np.int64 and got.tolist() == np.bincount(idx, minlength=40).tolist()
    assert index_counts(idx[:0], 3).tolist() == [0, 0, 0]


def test_rows_grouped_by_item_as_a_stable_argsort_and_its_python_twin():
    from mfcore.rowgroup import _scatter, group_rows
    rng = np.random.default_rng(2)
    keys = rng.integers(0, 9, 500).astype(np.int32)
    cols, vals = np.arange(500, dtype=np.int32), rng.random(500).astype(np.float32)
    indptr = np.concatenate([[0], np.cumsum(np.bincount(keys, minlength=9))]).astype(np.int64)
    order = np.argsort(keys, kind="stable")
    got_cols, got_vals = group_rows(keys, cols, vals, indptr)
    assert np.array_equal(got_cols, cols[order]) and np.array_equal(got_vals, vals[order])
    twin_cols, twin_vals = np.empty_like(cols), np.empty_like(vals)
    _scatter.py_func(keys, indptr, cols, twin_cols)
    _scatter.py_func(keys, indptr, vals, twin_vals)
    assert np.array_equal(twin_cols, got_cols) and np.array_equal(twin_vals, got_vals)
    from mfcore.rowgroup import grouped_order  # the row numbers alone (no column)
    got_order, twin_order = grouped_order(keys, indptr), np.empty(500, np.int32)
    _scatter.py_func(keys, indptr, None, twin_order)
    assert np.array_equal(got_order, order) and np.array_equal(twin_order, order)


def _arranged_by_a_split():
    """A dataset, and the same rows as a random split arranges them (train, validation side by
    side, each sorted by (user, item))."""
    from mfcore.split import random_split
    data = Interactions.from_raw(*zip(*[(f"u{u}", f"i{i}", float(u + i))
                                         for u in range(30) for i in range(0, 40, 1 + u % 3)]))
    return data, random_split(data, val_frac=0.3, test_frac=0.2, seed=5).rows


def test_merge_order_puts_sorted_runs_back_in_order_and_its_python_twin():
    from mfcore.rowgroup import _merge, merge_order, merged_chunks
    data, rows = _arranged_by_a_split()
    assert len(rows.runs) == 4 and not np.array_equal(rows.users, data.users)
    order = merge_order(rows.users, rows.items, rows.runs)
    assert np.array_equal(rows.users[order], data.users)
    assert np.array_equal(rows.items[order], data.items)
    twin = np.empty_like(order)
    bounds = np.asarray(rows.runs, np.int64)
    _merge.py_func(rows.users, rows.items, bounds, bounds[:-1].copy(), twin)
    assert np.array_equal(twin, order)
    for chunk in (1, 7, len(order)):  # a chunk at a time, the merge goes on where it stopped
        chunks = list(merged_chunks(rows.users, rows.items, rows.runs, chunk))
        assert max(map(len, chunks)) == chunk and np.array_equal(np.concatenate(chunks), order)


@pytest.mark.parametrize("chunk", [None, 7])
def test_rows_in_runs_give_the_same_answers_as_the_sorted_rows(monkeypatch, chunk):
    from mfcore import rowgroup
    if chunk:  # rows in runs are hashed in merge order a chunk at a time: chunks must not show
        monkeypatch.setattr(rowgroup, "MERGE_CHUNK", chunk)
    data, rows = _arranged_by_a_split()
    canon = rows.canonical()
    for name in ("users", "items", "values"):
        assert np.array_equal(getattr(canon, name), getattr(data, name))
    assert rows.fingerprint == data.fingerprint  # same rows, however arranged
    fresh = Interactions(rows.users, rows.items, rows.values, rows.user_ids, rows.item_ids,
                         runs=rows.runs)  # never hashed: hashed in merge order, chunk by chunk
    assert fresh.fingerprint == Interactions(data.users, data.items, data.values, data.user_ids,
                                             data.item_ids).fingerprint
    assert Interactions(rows.users, rows.items, rows.values, rows.user_ids,
                        rows.item_ids).fingerprint != data.fingerprint  # order counts without runs
    indptr, items, _ = data.csr("user")
    for u in range(data.n_users):
        got_items, got_values = rows.user_rows(u)
        order = np.argsort(got_items)
        assert np.array_equal(got_items[order], items[indptr[u]:indptr[u + 1]])
        assert np.array_equal(got_values[order], data.user_rows(u)[1])
    g_indptr, g_items, _ = rows.csr("user")  # grouped afresh, never kept beside the rows
    assert np.array_equal(g_indptr, indptr) and "_csr_user" not in rows.__dict__
    assert np.array_equal(np.sort(g_items[indptr[3]:indptr[4]]), items[indptr[3]:indptr[4]])
    mask = rows.values > 20
    part = rows.subset(mask)  # a mask keeps each run sorted, and says where they now are
    assert np.array_equal(part.canonical().values, data.values[data.values > 20])
    with pytest.raises(ValueError, match="runs must rise"):
        Interactions(rows.users, rows.items, rows.values, rows.user_ids, rows.item_ids,
                     runs=(0, 5, 3, len(rows)))


def test_one_users_rows_are_read_without_a_copy_of_the_column():
    # np.searchsorted with a Python int copies an int32 column to int64 first: 8 bytes a row
    # per lookup (the Recommend page reads one user this way).
    import tracemalloc

    from mfcore.prepare import prepare
    from mfcore.load.synthetic import generate
    rows = prepare(generate(2000, 300, 200_000, shape="msd", seed=3)).display
    assert rows.runs
    rows.user_rows(0)  # anything made once
    tracemalloc.start()
    try:
        for u in (0, 1000, rows.n_users - 1):
            tracemalloc.reset_peak()
            items, _ = rows.user_rows(u)
            assert tracemalloc.get_traced_memory()[1] < 4 * len(rows) // 10  # not the column
            assert len(items) == np.count_nonzero(rows.users == u)
    finally:
        tracemalloc.stop()

"""prepare() (the one pipeline and its defaults), transform, filter_min_counts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mfcore.errors import ConfigError, DataError
from mfcore.interactions import Interactions
from mfcore.load.synthetic import generate
from mfcore.prepare import (PrepOptions, Prepared, default_transform, filter_min_counts, prepare,
                            transform)
from mfcore.split import random_split


def data_from(rows, meta=True):
    u, i, v = zip(*rows)
    items = sorted(set(i))
    m = pd.DataFrame({"title": [f"t{x}" for x in items]}, index=pd.Index(items)) if meta else None
    return Interactions.from_raw(list(u), list(i), np.asarray(v, float), item_meta=m,
                                 source="test")


ROWS = [("a", "x", 1), ("a", "y", 3), ("b", "x", 7), ("c", "z", 0)]


def test_none_is_identity_and_does_not_modify_input():
    d = data_from(ROWS)
    out = transform(d, "none")
    assert np.array_equal(out.values, d.values)
    assert out.extra["transform"] == {"kind": "none"}
    assert "transform" not in d.extra


def test_standardize_records_mean_and_std():
    d = data_from(ROWS)
    out = transform(d, "standardize")
    v = d.values.astype(float)
    info = out.extra["transform"]
    assert info["mean"] == pytest.approx(v.mean()) and info["std"] == pytest.approx(v.std())
    np.testing.assert_allclose(out.values, (v - v.mean()) / v.std(), rtol=1e-6)
    assert out.values.mean() == pytest.approx(0, abs=1e-6)
    const = transform(data_from([("a", "x", 2), ("b", "x", 2)]), "standardize")
    assert const.extra["transform"]["std"] == 1.0 and not const.values.any()


def test_log1p_and_binary():
    d = data_from(ROWS)
    out = transform(d, "log1p")
    np.testing.assert_allclose(out.values, np.log1p(d.values), rtol=1e-6)
    b = transform(d, "binary")
    assert b.implicit and b.values.dtype == np.float32 and (b.values == 1).all()
    assert not d.implicit
    with pytest.raises(DataError, match="log1p"):
        transform(data_from([("a", "x", -1)]), "log1p")


def test_bad_kind():
    with pytest.raises(ConfigError, match="standardize"):
        transform(data_from(ROWS), "zscore")


def test_filter_iterates_to_a_fixpoint():
    # min 2 per user and item. e has 1 row -> w then has 1 -> d then has 1 -> v then has 1 ->
    # f then has 1 -> only a, b, c and x, y remain: a chain of 5 dropping rounds (+1 to see it
    # is stable).
    rows = [("a", "x", 1), ("a", "y", 1), ("b", "x", 1), ("b", "y", 1), ("c", "x", 1),
            ("c", "y", 1), ("d", "w", 1), ("d", "v", 1), ("e", "w", 1), ("f", "v", 1),
            ("f", "x", 1)]
    d = data_from(rows)
    out = filter_min_counts(d, min_user=2, min_item=2)
    assert out.user_ids.tolist() == ["a", "b", "c"] and out.item_ids.tolist() == ["x", "y"]
    uc, ic = out.user_counts(), out.item_counts()
    assert uc.min() >= 2 and ic.min() >= 2
    # Dense again and consistent with the raw ids.
    assert out.n_users == len(np.unique(out.users)) and out.n_items == len(np.unique(out.items))
    raw = {(out.user_ids[u], out.item_ids[i]) for u, i in zip(out.users, out.items)}
    assert raw <= {(u, i) for u, i, _ in rows}
    f = out.extra["filter"]
    assert f["rows_dropped"] == len(d) - len(out)
    assert f["users_dropped"] == d.n_users - out.n_users
    assert f["items_dropped"] == d.n_items - out.n_items and f["rounds"] == 6
    assert set(out.item_meta.index) == set(out.item_ids)


def test_filter_exact_result():
    rows = [("a", "x", 1), ("a", "y", 1), ("b", "x", 1), ("b", "y", 1), ("c", "x", 1),
            ("c", "z", 1)]
    out = filter_min_counts(data_from(rows), min_user=2, min_item=2)
    # z has one row -> c drops to one row -> c goes -> x still has 2.
    assert out.user_ids.tolist() == ["a", "b"] and out.item_ids.tolist() == ["x", "y"]
    assert out.extra["filter"] == {"min_user": 2, "min_item": 2, "rounds": 3, "rows_dropped": 2,
                                   "users_dropped": 1, "items_dropped": 1}
    same = filter_min_counts(data_from(rows))
    assert len(same) == 6 and same.extra["filter"]["rows_dropped"] == 0


def test_filter_errors():
    d = data_from(ROWS)
    with pytest.raises(ConfigError):
        filter_min_counts(d, min_user=0)
    with pytest.raises(ConfigError):
        filter_min_counts(d, min_item=1.5)
    with pytest.raises(DataError, match="no interactions left"):
        filter_min_counts(d, min_user=5)


# ---- the pipeline -----------------------------------------------------------------------------
def test_default_transform_by_kind_of_data():
    assert default_transform(generate(shape="msd", seed=0)) == "log1p"      # play counts
    assert default_transform(generate(shape="ratings", seed=0)) == "none"   # a rating scale
    assert default_transform(generate(shape="playlist", seed=0)) == "none"  # implicit
    stars = data_from([("a", "x", 1), ("a", "y", 5), ("b", "x", 4), ("c", "z", 2)])
    assert default_transform(stars) == "none"  # whole numbers, but no more than 10
    counts = data_from([("a", "x", 1), ("a", "y", 250), ("b", "x", 4), ("c", "z", 2)])
    assert default_transform(counts) == "log1p"
    assert default_transform(data_from([("a", "x", 0.5), ("b", "y", 40.5)])) == "none"


def test_prepare_defaults_are_filters_off_auto_transform_random_20_percent():
    raw = generate(300, 200, 6_000, shape="msd", seed=2)
    prepared = prepare(raw)
    assert isinstance(prepared, Prepared) and PrepOptions() == PrepOptions(
        transform="auto", min_user=1, min_item=1, split="random", val_frac=0.2,
        test_frac=0.0, seed=0)
    assert prepared.opts == PrepOptions(transform="log1p")  # 'auto' resolved, as applied
    # No filter: the data as loaded (counts, not logarithms), arranged as the parts, whose
    # users and items arrays it shares: the rows exist once, not once more per part.
    shown = prepared.display
    assert shown.runs == (0, len(prepared.train), len(raw), len(raw))
    for name in ("users", "items", "values"):
        np.testing.assert_array_equal(getattr(shown.canonical(), name), getattr(raw, name))
    assert shown.fingerprint == raw.fingerprint
    for part in (prepared.train, prepared.val):
        assert np.shares_memory(part.users, shown.users)
        assert np.shares_memory(part.items, shown.items)
    expected = random_split(transform(raw, "log1p"), val_frac=0.2, seed=0)
    np.testing.assert_array_equal(prepared.train.values, expected.train.values)
    np.testing.assert_array_equal(prepared.val.users, expected.val.users)
    assert prepared.train.values.max() < np.log1p(raw.values.max()) + 1e-6 < raw.values.max()
    assert prepared.info == {"rows_removed_by_filters": 0, "users_removed": 0,
                             "items_removed": 0}


def test_one_fingerprint_the_data_as_loaded_and_the_options_beside_it():
    raw = generate(300, 200, 6_000, shape="msd", seed=2)
    a = prepare(raw)
    b = prepare(raw, PrepOptions(transform="none", min_user=5, split="holdout", seed=3))
    assert a.fingerprint == b.fingerprint == raw.fingerprint
    assert b.display.fingerprint != raw.fingerprint  # filtered rows, same dataset
    summary = b.summary()
    assert summary["fingerprint"] == raw.fingerprint and summary["n_users"] == b.display.n_users
    assert summary["prepare"] == {"transform": "none", "min_user": 5, "min_item": 1,
                                  "split": "holdout", "val_frac": 0.2, "test_frac": 0.0,
                                  "seed": 3}
    assert b.info["users_removed"] == raw.n_users - b.display.n_users > 0
    assert b.split.kind == "holdout" and b.split.info["seed"] == 3
    assert set(np.unique(b.train.values)) <= set(np.unique(b.display.values))  # untransformed


def test_prepare_errors_name_the_option():
    raw = generate(100, 50, 1_000, shape="msd", seed=1)
    with pytest.raises(ConfigError, match="transform.*zscore"):
        prepare(raw, PrepOptions(transform="zscore"))
    with pytest.raises(ConfigError, match="min_user"):
        prepare(raw, PrepOptions(min_user=0))
    with pytest.raises(ConfigError, match="sideways"):
        prepare(raw, PrepOptions(split="sideways"))
    with pytest.raises(ConfigError, match="val_frac"):
        prepare(raw, PrepOptions(val_frac=1.5))
    assert prepare(raw, PrepOptions(split="none")).val is None


@pytest.mark.parametrize("split", ["random", "holdout", "user", "none"])
def test_preparing_the_prepared_rows_again_gives_the_same_parts(split):
    # The dashboard keeps the prepared rows (arranged by the split) in place of the rows as
    # loaded, and prepares them again when a setting changes: the result must not depend on
    # that arrangement.
    raw = generate(300, 200, 6_000, shape="msd", seed=2)
    opts = PrepOptions(split=split, test_frac=0.1 if split != "holdout" else 0.0, seed=4)
    first = prepare(raw, opts)
    assert first.unfiltered
    again = prepare(first.display, opts)
    assert again.fingerprint == first.fingerprint == raw.fingerprint
    for name in ("train", "val"):
        a, b = getattr(first, name), getattr(again, name)
        if a is None:
            assert b is None
            continue
        for col in ("users", "items", "values"):
            np.testing.assert_array_equal(getattr(a, col), getattr(b, col))
    assert not prepare(raw, PrepOptions(min_user=5)).unfiltered


def _columns(data):
    return None if data is None else (data.users.copy(), data.items.copy(), data.values.copy())


@pytest.mark.parametrize("transform", ["log1p", "standardize", "binary", "none"])
@pytest.mark.parametrize("split,min_user", [("random", 1), ("none", 1), ("none", 3),
                                            ("holdout", 2)])
def test_without_the_loaded_values_the_parts_and_summary_are_the_same(transform, split,
                                                                      min_user):
    data = generate(300, 90, 5_000, shape="msd", seed=11)
    loaded = data.values.copy()
    opts = PrepOptions(transform=transform, split=split, min_user=min_user, seed=4)
    kept = prepare(data, opts)
    lean = prepare(data, opts, keep_loaded_values=False)
    # The data as loaded is never overwritten, even when the split kept its rows as they were.
    np.testing.assert_array_equal(data.values, loaded)
    for name in ("train", "val", "test"):
        a, b = _columns(getattr(kept.split, name)), _columns(getattr(lean.split, name))
        assert (a is None) == (b is None)
        for x, y in zip(a or (), b or ()):
            np.testing.assert_array_equal(x, y)
    assert lean.summary() == kept.summary()
    assert lean.display.fingerprint == kept.display.fingerprint  # saved with a model
    for name in ("train", "val"):
        a, b = getattr(kept.split, name), getattr(lean.split, name)
        if a is not None:  # the kind of data (which picks the solver) is the loaded values'
            assert (b.kind, b.implicit, b.extra) == (a.kind, a.implicit, a.extra)
    assert lean.summary()["value_max"] == float(loaded.max())  # the counts, not their logs
    # Lean: one values array, the parts' (the displayed rows hold the transformed values).
    assert np.shares_memory(lean.display.values, lean.train.values)
    np.testing.assert_array_equal(lean.display.values[:len(lean.train)], lean.train.values)
    np.testing.assert_array_equal(lean.display.users, kept.display.users)
    if transform != "none":
        assert not np.shares_memory(kept.display.values, kept.train.values)

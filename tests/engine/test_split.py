"""random_split / user_split / holdout_split: fractions, seeding, disjointness, cold counts."""
from __future__ import annotations

import numpy as np
import pytest

from mfcore.errors import ConfigError
from mfcore.interactions import Interactions
from mfcore.split import holdout_split, random_split, user_split


def keys(d):
    return set(zip(d.users.tolist(), d.items.tolist()))


def parts(sp):
    return [p for p in (sp.train, sp.val, sp.test) if p is not None]


def check_partition(data, sp):
    ps = parts(sp)
    assert sum(len(p) for p in ps) == len(data)
    allk = set()
    for p in ps:
        k = keys(p)
        assert not (allk & k)
        allk |= k
        assert p.n_users == data.n_users and p.n_items == data.n_items
        assert p.user_ids is data.user_ids and p.item_ids is data.item_ids
    assert allk == keys(data)


def cold(sp):
    tu, ti = set(sp.train.users.tolist()), set(sp.train.items.tolist())
    ou, oi = set(), set()
    for p in (sp.val, sp.test):
        if p is not None:
            ou |= set(p.users.tolist())
            oi |= set(p.items.tolist())
    return len(ou - tu), len(oi - ti)


def test_random_split_fractions_seed_and_cold(msd_small):
    d = msd_small
    sp = random_split(d, 0.2, 0.1, seed=3)
    check_partition(d, sp)
    assert sp.kind == "random"
    assert len(sp.val) == round(0.2 * len(d)) and len(sp.test) == round(0.1 * len(d))
    assert (sp.info["n_cold_users"], sp.info["n_cold_items"]) == cold(sp)
    same = random_split(d, 0.2, 0.1, seed=3)
    assert keys(same.val) == keys(sp.val)
    assert keys(random_split(d, 0.2, 0.1, seed=4).val) != keys(sp.val)
    no_test = random_split(d, 0.25)
    assert no_test.test is None and no_test.info["n_test"] == 0
    # Rows stay sorted by (user, item) in every part.
    for p in parts(sp):
        key = p.users.astype(np.int64) * d.n_items + p.items
        assert np.all(np.diff(key) > 0)


def test_user_split_moves_whole_users(msd_small):
    d = msd_small
    sp = user_split(d, 0.15, 0.15, seed=0)
    check_partition(d, sp)
    tu, vu, su = (set(p.users.tolist()) for p in parts(sp))
    assert not (tu & vu) and not (tu & su) and not (vu & su)
    n_active = len(np.unique(d.users))
    assert len(vu) == sp.info["n_val_users"] == round(0.15 * n_active)
    assert len(su) == sp.info["n_test_users"] == round(0.15 * n_active)
    assert sp.info["n_cold_users"] == len(vu) + len(su)
    assert (sp.info["n_cold_users"], sp.info["n_cold_items"]) == cold(sp)
    assert keys(user_split(d, 0.15, 0.15, seed=0).test) == keys(sp.test)


def test_holdout_split_per_user(msd_small):
    d = msd_small
    sp = holdout_split(d, 0.2, seed=1, min_items=3)
    check_partition(d, sp)
    assert sp.test is None and sp.kind == "holdout"
    c = d.user_counts()
    h = np.bincount(sp.val.users, minlength=d.n_users)
    big = c >= 3
    expected = np.minimum(np.maximum(1, np.floor(0.2 * c + 0.5)), c - 1)
    assert np.array_equal(h[big], expected[big])
    assert not h[~big].any()
    assert sp.info["n_users_kept_whole"] == int(np.count_nonzero((c > 0) & (c < 3)))
    assert sp.info["n_cold_users"] == 0
    assert (sp.info["n_cold_users"], sp.info["n_cold_items"]) == cold(sp)
    assert keys(holdout_split(d, 0.2, seed=1, min_items=3).val) == keys(sp.val)
    assert keys(holdout_split(d, 0.2, seed=2, min_items=3).val) != keys(sp.val)


def test_holdout_hand_case():
    # user 0: 5 items -> 1 held out; user 1: 2 items -> 1; user 2: 1 item -> kept whole.
    u = [0] * 5 + [1] * 2 + [2]
    i = [0, 1, 2, 3, 4, 0, 1, 0]
    d = Interactions.from_codes(u, i, np.ones(8), np.arange(3), np.arange(5))
    sp = holdout_split(d, 0.2, seed=0)
    assert np.bincount(sp.val.users, minlength=3).tolist() == [1, 1, 0]
    assert sp.info["n_users_kept_whole"] == 1 and sp.info["n_users_heldout"] == 2
    # A large fraction still keeps one training row per user.
    sp9 = holdout_split(d, 0.9, seed=0)
    assert np.bincount(sp9.train.users, minlength=3).tolist() == [1, 1, 1]


def test_cold_item_counted():
    # items 1 and 3 appear once each; whichever goes to validation is cold.
    u = [0, 0, 1, 1]
    i = [0, 3, 0, 1]
    d = Interactions.from_codes(u, i, np.ones(4), np.arange(2), np.arange(4))
    seen = set()
    for seed in range(20):
        sp = holdout_split(d, 0.5, seed=seed)
        assert (sp.info["n_cold_users"], sp.info["n_cold_items"]) == cold(sp)
        seen.add(sp.info["n_cold_items"])
    assert seen == {1, 2}          # one of items 0, 1, 3 or two of them always go cold


@pytest.mark.parametrize("call", [
    lambda d: random_split(d, 1.0), lambda d: random_split(d, -0.1),
    lambda d: random_split(d, 0.6, 0.5), lambda d: random_split(d, "a"),
    lambda d: user_split(d, 0.5, 0.5), lambda d: holdout_split(d, 0.0),
    lambda d: holdout_split(d, 1.0), lambda d: holdout_split(d, 0.2, min_items=1),
])
def test_bad_fractions(msd_small, call):
    with pytest.raises(ConfigError):
        call(msd_small)


def test_holdout_on_real_msd_subset(shared_data):
    import pandas as pd
    path = shared_data / "msd_taste_subset" / "10000.txt"
    if not path.exists():
        pytest.skip(f"{path} is absent")
    df = pd.read_csv(path, sep="\t", header=None, names=["user", "song", "count"])
    d = Interactions.from_raw(df["user"].to_numpy(), df["song"].to_numpy(),
                              df["count"].to_numpy(float), source=str(path))
    sp = holdout_split(d, 0.2, seed=0)
    check_partition(d, sp)
    assert sp.info["n_cold_users"] == 0
    assert (sp.info["n_cold_users"], sp.info["n_cold_items"]) == cold(sp)
    assert sp.info["n_cold_items"] > 0           # the long tail: songs played once go cold


def test_make_split_dispatches_by_name(msd_small):
    from mfcore.split import make_split

    assert make_split(msd_small, "none").val is None
    for kind in ("random", "holdout", "user"):
        sp = make_split(msd_small, kind, val_frac=0.2, seed=3)
        assert sp.kind == kind and len(sp.train) + len(sp.val) + (
            len(sp.test) if sp.test is not None else 0) == len(msd_small)
    with pytest.raises(ConfigError, match="sideways"):
        make_split(msd_small, "sideways")

"""recommend / top_fans / similar_items / fold-in on hand-set models."""
from __future__ import annotations

import numpy as np
import pytest

from factories import inter, make_model
from mfcore.errors import ConfigError
from mfcore.interactions import Interactions
from mfcore.foldin import fold_in
from mfcore.recommend import (IndexOutOfRange, listeners, played, recommend, recommend_folded,
                              similar_items, top_fans, top_n)


# user 0 = [1, 0], user 1 = [0, 1]; items along both axes, item 4 a copy of item 0.
P = [[1.0, 0.0], [0.0, 1.0]]
Q = [[3.0, 0.0], [1.0, 1.0], [0.0, 2.0], [-1.0, 0.0], [3.0, 0.0]]
BI = [0.0, 0.5, 0.0, 0.0, 0.0]
BU = [0.25, 0.0]
MODEL = make_model(P, Q, bu=BU, bi=BI, mu=3.0)


def test_recommend_ranks_by_item_bias_plus_dot_with_ties_by_index():
    # user 0 scores: 3, 1.5, 0, -1, 3 -> [0, 4, 1, 2, 3] (0 and 4 tie; lower index first).
    idx, sc = recommend(MODEL, 0, n=10)
    assert idx.tolist() == [0, 4, 1, 2, 3]
    assert sc.tolist() == pytest.approx([3, 3, 1.5, 0, -1])
    assert sc.dtype == np.float32


def test_recommend_excludes_the_users_rows():
    train = inter([(0, 0), (1, 2), (0, 1)], 2, 5)
    idx, _ = recommend(MODEL, 0, n=3, exclude=train)
    assert idx.tolist() == [4, 2, 3]
    idx, _ = recommend(MODEL, 1, n=10, exclude=train)   # user 1: 0, 1.5, -, 0, 0
    assert idx.tolist() == [1, 0, 3, 4]


def test_top_fans_rank_by_user_bias_plus_dot():
    # item 0: user 0 = 3 + 0.25, user 1 = 0 + 0 -> [0, 1]; item 2: user 0 0.25, user 1 2.
    assert top_fans(MODEL, 0)[0].tolist() == [0, 1]
    idx, sc = top_fans(MODEL, 2)
    assert idx.tolist() == [1, 0] and sc.tolist() == pytest.approx([2.0, 0.25])
    train = inter([(1, 2)], 2, 5)
    assert top_fans(MODEL, 2, exclude=train)[0].tolist() == [0]


def test_similar_items_by_cosine_excluding_itself():
    idx, cos = similar_items(MODEL, 0, n=3)
    # cos with item 0: item4 = 1, item1 = 1/sqrt2, item2 = 0, item3 = -1
    assert idx.tolist() == [4, 1, 2]
    assert cos.tolist() == pytest.approx([1.0, 2 ** -0.5, 0.0])
    zero = make_model(P, [[0, 0], [1, 0], [2, 0]])
    idx, cos = similar_items(zero, 0)
    assert idx.tolist() == [1, 2] and cos.tolist() == [0.0, 0.0]   # no NaN from a zero vector


def test_top_n_helper_clamps_and_breaks_ties():
    idx, sc = top_n(np.array([1, 5, 5, 2, 5]), 2, exclude=[1])
    assert idx.tolist() == [2, 4]
    idx, _ = top_n(np.array([1, 2, 3]), 10, exclude=[0, 1, 2])
    assert len(idx) == 0


@pytest.mark.parametrize("call", [
    lambda: recommend(MODEL, 2), lambda: recommend(MODEL, -1), lambda: top_fans(MODEL, 5),
    lambda: similar_items(MODEL, 7), lambda: fold_in(MODEL, [0, 9]),
])
def test_index_errors_are_clear(call):
    with pytest.raises(IndexOutOfRange, match="out of range"):
        call()
    with pytest.raises(IndexError):
        call()


@pytest.mark.parametrize("call", [
    lambda: recommend(MODEL, 0, n=0), lambda: recommend(MODEL, 0.5),
    lambda: fold_in(MODEL, [0.5]), lambda: fold_in(MODEL, [0, 1], values=[1.0]),
    lambda: fold_in(MODEL, [0], reg=-1), lambda: recommend(MODEL, 0, exclude=inter([(0, 0)], 3, 5)),
])
def test_config_errors(call):
    with pytest.raises(ConfigError):
        call()


# ---- fold-in ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def known_items():
    rng = np.random.default_rng(0)
    return rng.normal(0, 1, (200, 6)).astype(np.float32), rng


def test_unbiased_fold_in_recovers_the_user_vector(known_items):
    Q, rng = known_items
    p_true = rng.normal(0, 1, 6)
    model = make_model(np.zeros((1, 6)), Q, biased=False, reg=1e-6)
    items = rng.choice(len(Q), 40, replace=False)
    t = Q[items].astype(np.float64) @ p_true
    p, bu = fold_in(model, items, t)
    assert p.dtype == np.float32 and p.shape == (6,)
    np.testing.assert_allclose(p, p_true, atol=1e-4)
    assert bu == 0.0


def test_unbiased_fold_in_is_the_trained_objectives_ridge(known_items):
    """SGD regularises per observation: n given items weigh λ·n (docs/definitions.md)."""
    Q, rng = known_items
    model = make_model(np.zeros((1, 6)), Q, biased=False, reg=0.5)
    items = [3, 17, 42]
    Y = Q[items].astype(np.float64)
    expected = np.linalg.solve(Y.T @ Y + 0.5 * 3 * np.eye(6), Y.T @ np.ones(3))  # t = 1
    np.testing.assert_allclose(fold_in(model, items)[0], expected, rtol=1e-5)
    np.testing.assert_allclose(fold_in(model, items, reg=2.0)[0],
                               np.linalg.solve(Y.T @ Y + 2 * 3 * np.eye(6), Y.T @ np.ones(3)),
                               rtol=1e-5)


def test_sgd_fold_in_with_negatives_weighs_every_item(known_items):
    """ρ sampled negatives per pair: + (ρ·n / n_items)·QᵀQ and λ·n·(1 + ρ)."""
    Q, rng = known_items
    model = make_model(np.zeros((1, 6)), Q, biased=False, reg=0.1)
    model.params["neg_ratio"] = 4.0
    items = [3, 17, 42, 99]
    Y, Qd = Q[items].astype(np.float64), Q.astype(np.float64)
    A = Y.T @ Y + (4.0 * 4 / len(Q)) * Qd.T @ Qd + 0.1 * 4 * 5 * np.eye(6)
    np.testing.assert_allclose(fold_in(model, items)[0], np.linalg.solve(A, Y.T @ np.ones(4)),
                               rtol=1e-5)


def test_biased_fold_in_recovers_vector_and_bias(known_items):
    Q, rng = known_items
    bi = rng.normal(0, 0.5, len(Q)).astype(np.float32)
    mu, bu_true, p_true = 3.2, -0.7, rng.normal(0, 1, 6)
    model = make_model(np.zeros((1, 6)), Q, bi=bi, mu=mu, biased=True, reg=1e-6)
    items = rng.choice(len(Q), 50, replace=False)
    t = mu + bu_true + bi[items] + Q[items].astype(np.float64) @ p_true
    p, bu = fold_in(model, items, t)
    np.testing.assert_allclose(p, p_true, atol=1e-4)
    assert bu == pytest.approx(bu_true, abs=1e-4)


def test_fold_in_of_a_trained_users_items_reproduces_its_recommendations(known_items):
    Q, rng = known_items
    p_true = rng.normal(0, 1, 6).astype(np.float32)
    model = make_model(p_true[None, :], Q, biased=False, reg=1e-6)
    items = rng.choice(len(Q), 30, replace=False)
    t = Q[items].astype(np.float64) @ p_true
    idx_f, _ = recommend_folded(model, items, t, n=10)
    exclude = Interactions(np.zeros(30, np.int32), np.sort(items).astype(np.int32),
                           np.ones(30, np.float32), np.arange(1), np.arange(len(Q)))
    idx_t, _ = recommend(model, 0, n=10, exclude=exclude)
    assert idx_f.tolist() == idx_t.tolist()
    assert not set(idx_f.tolist()) & set(items.tolist())
    idx_all, _ = recommend_folded(model, items, t, n=len(Q), exclude_given=False)
    assert len(idx_all) == len(Q)


def test_fold_in_of_nothing_is_zero():
    p, bu = fold_in(MODEL, [])
    assert not p.any() and bu == 0.0
    idx, _ = recommend_folded(MODEL, [], n=2)      # falls back to the item biases
    assert idx.tolist() == [1, 0]


def test_played_lists_a_users_items_most_played_first():
    data = inter([(0, 3, 2.0), (0, 1, 5.0), (0, 2, 2.0), (1, 0, 9.0), (0, 4, 1.0)], 3, 5)
    items, values = played(data, 0)
    assert items.tolist() == [1, 2, 3, 4]  # 5, then the two 2s by index, then 1
    assert values.tolist() == [5.0, 2.0, 2.0, 1.0]
    assert played(data, 2)[0].tolist() == []  # a user with no rows
    with pytest.raises(IndexOutOfRange, match="user index 3"):
        played(data, 3)


def test_listeners_of_a_song_with_their_plays():
    data = inter([(0, 3, 2.0), (0, 1, 5.0), (2, 1, 7.0), (1, 0, 9.0)], 3, 5)
    assert listeners(data, 1) == {0: 5.0, 2: 7.0}
    assert listeners(data, 4) == {}  # nobody played it
    with pytest.raises(IndexOutOfRange, match="item index 5"):
        listeners(data, 5)

"""Fold-in follows the picks: the exact ALS user step, SGD's own objective, and the by-user
evaluation protocol built on it."""
from __future__ import annotations

import numpy as np
import pytest

from mfcore.evaluate.folded import evaluate_folded, visible_and_hidden
from mfcore.evaluate.ranking import evaluate_ranking, popularity_model
from mfcore.foldin import fold_in, fold_in_many
from mfcore.interactions import Interactions
from mfcore.recommend import recommend_folded
from mfcore.split import user_split
from mfcore.train import MFModel
from mfcore.train.als import confidence


def clustered(n_users=400, n_clusters=4, items_per_cluster=40, per_user=12, seed=0):
    """Users of cluster c play only songs of block c, plus a few popular songs of any block."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        c = u % n_clusters
        block = c * items_per_cluster + rng.choice(items_per_cluster, per_user, replace=False)
        users += [u] * per_user
        items += block.tolist()
    n_items = n_clusters * items_per_cluster
    return Interactions.from_codes(np.array(users), np.array(items), np.ones(len(users)),
                                   np.arange(n_users), np.arange(n_items), implicit=True)


@pytest.fixture(scope="module")
def data():
    return clustered()


@pytest.mark.parametrize("solver", ["als", "sgd"])
def test_picks_from_one_cluster_bring_that_cluster_to_the_top(data, solver):
    model = MFModel(factors=8, epochs=15, solver=solver, seed=1).fit(data)
    for c in range(4):
        picks = c * 40 + np.array([0, 5, 9])
        idx, _ = recommend_folded(model, picks, n=10)
        in_block = np.mean((idx // 40) == c)
        assert in_block == 1.0, (solver, c, idx)


def test_als_fold_in_of_a_training_users_items_reproduces_its_row(data):
    """Folding a training user in from its own items is the user step ALS itself takes: the
    next iteration solves that user's row against the same item factors."""
    model = MFModel(factors=6, epochs=5, solver="als", solve="cholesky", alpha=5.0,
                    confidence="log1p", seed=2).fit(data)
    indptr, items, values = data.csr("user")
    users = (0, 7, 123)
    folded = [fold_in(model, items[indptr[u]:indptr[u + 1]], values[indptr[u]:indptr[u + 1]])
              for u in users]
    model.fit_partial(data, epochs=1)
    for u, (p, bu) in zip(users, folded):
        np.testing.assert_allclose(p, model.user_factors_[u], rtol=1e-5, atol=1e-6)
        assert bu == 0.0


def test_als_fold_in_is_the_exact_user_step(data):
    model = MFModel(factors=5, epochs=3, solver="als", alpha=3.0, reg=0.5).fit(data)
    picks = np.array([2, 50, 51, 140])
    Y = model.item_factors_.astype(np.float64)
    c = confidence(np.ones(4), 3.0).astype(np.float64)
    A = Y.T @ Y + Y[picks].T @ ((c - 1)[:, None] * Y[picks]) + 0.5 * np.eye(5)
    np.testing.assert_allclose(fold_in(model, picks)[0],
                               np.linalg.solve(A, Y[picks].T @ c), rtol=1e-4, atol=1e-6)


def test_fold_in_many_equals_one_by_one(data):
    model = MFModel(factors=4, epochs=2, solver="sgd").fit(data)
    lists = [np.array([1, 2, 3]), np.array([], np.int64), np.array([70, 160 - 1])]
    indptr = np.cumsum([0] + [len(x) for x in lists])
    P, bu = fold_in_many(model, indptr, np.concatenate(lists).astype(np.int32))
    for row, picks in zip(P, lists):
        np.testing.assert_allclose(row, fold_in(model, picks)[0], rtol=1e-6)


def test_visible_and_hidden_split_each_user():
    d = clustered(n_users=30, per_user=10)
    visible, hidden = visible_and_hidden(d, visible_frac=0.8, seed=3)
    assert not (visible & hidden).any() and (visible | hidden).all()
    for u in range(30):
        rows = d.users == u
        assert visible[rows].sum() == 8 and hidden[rows].sum() == 2
    again, _ = visible_and_hidden(d, visible_frac=0.8, seed=3)
    assert (again == visible).all()
    with pytest.raises(Exception, match="visible_frac"):
        visible_and_hidden(d, visible_frac=1.0)


def test_by_user_protocol_ranks_new_users_far_above_popularity(data):
    sp = user_split(data, val_frac=0.2, test_frac=0.0, seed=0)
    model = MFModel(factors=8, epochs=10, solver="als", seed=0).fit(sp.train)
    res = evaluate_folded(model, sp.train, sp.val, k=10, seed=0)
    assert res.n_evaluated == len(np.unique(sp.val.users))
    visible, hidden = visible_and_hidden(sp.val, seed=0)
    pop = evaluate_ranking(popularity_model(sp.train), sp.train, sp.val.subset(hidden), k=10)
    # 2 held-out songs among the ~30 unseen of the user's block: 10 of the block ranked first
    # gives precision ≈ 2/30 and recall ≈ 1/3; popularity knows no blocks.
    assert res.recall > 0.25 and res.precision > 3 * pop.precision


def test_ranking_while_training_folds_in_users_of_a_by_user_split(data):
    sp = user_split(data, val_frac=0.2, test_frac=0.0, seed=0)
    model = MFModel(factors=8, epochs=3, solver="als", eval_sample=50).fit(sp.train, sp.val)
    assert all(h.ndcg > 0 and h.precision > 0 for h in model.history_)

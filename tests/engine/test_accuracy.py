"""predict / rmse / mae / baselines by hand."""
from __future__ import annotations


import numpy as np
import pytest

from factories import inter, make_model
from mfcore.errors import ConfigError, DataError
from mfcore.evaluate.accuracy import (POPULARITY_SHRINKAGE, baselines, fit_baseline_biases, mae,
                                      rmse, score_predictions)


MODEL = make_model([[1, 2], [0, 1], [5, 5]], [[1, 0], [2, 1]], [0.5, -0.5, 9], [1, 0], 3.0)


def test_predict_formula():
    # (0,0): 3 + .5 + 1 + 1 = 5.5; (0,1): 3 + .5 + 0 + 4 = 7.5; (1,1): 3 - .5 + 0 + 1 = 3.5
    p = MODEL.predict([0, 0, 1], [0, 1, 1])
    assert p.dtype == np.float32
    assert p.tolist() == pytest.approx([5.5, 7.5, 3.5])
    # Batching gives the same answer.
    assert MODEL.predict([0, 0, 1], [0, 1, 1], batch_size=1).tolist() == p.tolist()


def test_rmse_and_mae_by_hand():
    data = inter([(0, 0, 5.0), (0, 1, 8.5), (1, 1, 1.5)], 3, 2)   # errors -0.5, 1, -2
    assert rmse(MODEL, data) == pytest.approx(np.sqrt((0.25 + 1 + 4) / 3))
    assert mae(MODEL, data) == pytest.approx(3.5 / 3)


def test_cold_users_and_items_fall_back_and_are_counted():
    train = inter([(0, 0, 5.0), (1, 0, 3.0)], 3, 2)      # user 2 and item 1 are cold
    test = inter([(0, 1, 4.0), (2, 0, 4.0), (2, 1, 3.0)], 3, 2)
    s = score_predictions(MODEL, test, train=train)
    # (0,1): mu + bu0 = 3.5; (2,0): mu + bi0 = 4; (2,1): mu = 3
    assert s["rmse"] == pytest.approx(np.sqrt((0.25 + 0 + 0) / 3))
    assert (s["n_cold_users"], s["n_cold_items"], s["n_cold_rows"]) == (1, 1, 3)
    # The model's own predict applies the same rule (the one prediction path).
    assert MODEL.predict(test.users, test.items, train=train).tolist() == [3.5, 4.0, 3.0]
    assert MODEL.predict(test.users, test.items).tolist() != [3.5, 4.0, 3.0]


def test_empty_and_out_of_range_are_rejected():
    empty = inter([(0, 0, 1.0)], 3, 2).subset(np.zeros(1, bool))
    with pytest.raises(DataError, match="empty"):
        rmse(MODEL, empty)
    with pytest.raises(DataError, match="empty"):
        mae(MODEL, empty)
    with pytest.raises(ConfigError, match="out of range"):
        MODEL.predict([3], [0])
    with pytest.raises(ConfigError, match="differ in length"):
        MODEL.predict([0, 1], [0])


def surprise_als(rows, n_u, n_i, reg_i=10, reg_u=15, epochs=10):
    """Surprise BaselineOnly ALS written out with loops."""
    mu = np.mean([r for _, _, r in rows])
    bu, bi = np.zeros(n_u), np.zeros(n_i)
    for _ in range(epochs):
        for i in range(n_i):
            rs = [(r - mu - bu[u]) for u, j, r in rows if j == i]
            bi[i] = sum(rs) / (reg_i + len(rs))
        for u in range(n_u):
            rs = [(r - mu - bi[i]) for v, i, r in rows if v == u]
            bu[u] = sum(rs) / (reg_u + len(rs))
    return mu, bu, bi


def test_baselines_by_hand():
    rng = np.random.default_rng(0)
    rows = [(u, i, float(rng.integers(1, 6))) for u in range(6) for i in range(5)
            if rng.random() < 0.7]
    train = inter(rows, 7, 6)                               # user 6 and item 5 are cold
    test = inter([(0, 5, 4.0), (6, 0, 2.0), (1, 1, 5.0)], 7, 6)
    mu, bu, bi = fit_baseline_biases(train)
    mu_r, bu_r, bi_r = surprise_als(rows, 7, 6)
    assert mu == pytest.approx(mu_r)
    np.testing.assert_allclose(bu, bu_r)
    np.testing.assert_allclose(bi, bi_r)
    out = baselines(train, test)
    assert set(out) == {"global mean", "biases", "popularity"}
    r = test.values.astype(float)
    assert out["global mean"]["rmse"] == pytest.approx(np.sqrt(np.mean((r - mu) ** 2)))
    pb = mu + bu[test.users] + bi[test.items]
    assert pb[0] == pytest.approx(mu + bu[0]) and pb[1] == pytest.approx(mu + bi[0])
    assert out["biases"]["mae"] == pytest.approx(np.mean(np.abs(r - pb)))
    vals1 = [v for _, i, v in rows if i == 1]
    pop = [mu, (sum(v for _, i, v in rows if i == 0) + POPULARITY_SHRINKAGE * mu)
           / (sum(1 for _, i, _ in rows if i == 0) + POPULARITY_SHRINKAGE),
           (sum(vals1) + POPULARITY_SHRINKAGE * mu) / (len(vals1) + POPULARITY_SHRINKAGE)]
    assert out["popularity"]["rmse"] == pytest.approx(np.sqrt(np.mean((r - pop) ** 2)))
    assert out["biases"]["n_cold_users"] == 1 and out["biases"]["n_cold_items"] == 1
    with pytest.raises(DataError):
        baselines(train, test.subset(np.zeros(3, bool)))


def test_baselines_beat_global_mean_on_planted_data(planted):
    from mfcore.split import random_split
    data, _ = planted
    sp = random_split(data, 0.2, seed=0)
    out = baselines(sp.train, sp.val)
    assert out["biases"]["rmse"] < out["popularity"]["rmse"] < out["global mean"]["rmse"]


def test_clip_bounds_predictions_before_scoring():
    model = make_model([[1.0]], [[10.0], [-10.0]], mu=3.0)
    data = inter([(0, 0, 5.0), (0, 1, 1.0)], 1, 2)
    assert score_predictions(model, data)["rmse"] == pytest.approx(8.0)  # 13 vs 5, -7 vs 1
    assert score_predictions(model, data, clip=(1.0, 5.0))["rmse"] == 0.0

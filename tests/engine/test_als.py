"""Implicit ALS: kernels against their twins and the normal equations, the driver's objective,
planted recovery, reproducibility, threads, cancel, divergence and bad input."""
from __future__ import annotations

import threading
import time
import types

import numpy as np
import pytest

from mfcore.errors import ConfigError, DataError
from mfcore.evaluate.ranking import evaluate_ranking, popularity_model
from mfcore.interactions import Interactions
from mfcore.load.synthetic import generate
from mfcore.split import holdout_split
from mfcore.train import MFModel, als, als_kernels
from tests.factories import inter

PARAMS = dict(factors=8, reg=0.1, alpha=5.0, confidence="linear", cg_steps=3, solve="cg",
              threads=1, seed=0)


def _problem(n_rows=30, n_cols=20, k=5, density=0.25, seed=0):
    """A small CSR side with counts as values (row 3 left empty), factors and their Gram."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((n_rows, n_cols)) < density) * rng.integers(1, 6, (n_rows, n_cols))
    dense[3] = 0
    rows, cols = np.nonzero(dense)
    indptr = np.zeros(n_rows + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n_rows), out=indptr[1:])
    conf = als.confidence_weights(dense[rows, cols], 2.0)  # the kernels take (g, α, 1)
    X = (rng.standard_normal((n_rows, k)) * 0.3).astype(np.float32)
    Y = (rng.standard_normal((n_cols, k)) * 0.5).astype(np.float32)
    return dense, indptr, cols.astype(np.int32), conf, X, Y


def _normal_equations(dense, Y, reg, alpha=2.0):
    """x_u = (Yᵀ C_u Y + λI)⁻¹ Yᵀ C_u p_u straight from the dense definition (float64)."""
    Yd = Y.astype(np.float64)
    C = 1.0 + alpha * dense
    P = (dense > 0).astype(np.float64)
    k = Y.shape[1]
    return np.stack([np.linalg.solve(Yd.T @ (C[u][:, None] * Yd) + reg * np.eye(k),
                                     Yd.T @ (C[u] * P[u])) for u in range(len(dense))])


def _objective(dense, X, Y, reg, alpha):
    S = X.astype(np.float64) @ Y.astype(np.float64).T
    C = 1.0 + alpha * dense
    P = (dense > 0).astype(np.float64)
    return float(np.sum(C * (P - S) ** 2) + reg * (np.sum(X.astype(np.float64) ** 2)
                                                    + np.sum(Y.astype(np.float64) ** 2)))


def _model(train, **params):
    p = {**PARAMS, **params}
    return types.SimpleNamespace(
        params=p,
        user_factors_=als.init_factors(train.n_users, p["factors"], [p["seed"], 0]),
        item_factors_=als.init_factors(train.n_items, p["factors"], [p["seed"], 1]))


def _fit(train, epochs, **params):
    m = _model(train, **params)
    run = als.ALSRun(m, train)
    losses = []
    try:
        for e in range(1, epochs + 1):
            assert run.epoch(e, None) == "ok"
            losses.append(run.measure(e, 1.0).loss)
    finally:
        run.close()
    return m, losses


# ---- kernels --------------------------------------------------------------------------------
def test_gram_rows_matches_its_twin_and_the_float64_product():
    Y = np.random.default_rng(0).standard_normal((1000, 7)).astype(np.float32)
    Yd = Y.astype(np.float64)
    tol = 1e-6 * len(Y)  # float32 sums of 64 rows, then float64: errors ~1e-6 of the diagonal
    np.testing.assert_allclose(als_kernels.gram(Y), Yd.T @ Yd, rtol=1e-6, atol=tol)
    part = als_kernels.gram_rows(Y, 3, 150)  # tails after blocks of 8 and of 64 rows
    np.testing.assert_allclose(part, Yd[3:150].T @ Yd[3:150], rtol=1e-6, atol=tol)
    np.testing.assert_allclose(part, als_kernels.gram_rows.py_func(Y, 3, 150), atol=tol)
    np.testing.assert_array_equal(part, part.T)


@pytest.mark.parametrize("k", [5, 8])  # k = 5 has a tail after the blocks of four Gram rows
def test_cg_rows_matches_its_twin(k):
    _, indptr, idx, conf, X, Y = _problem(k=k)
    G = als_kernels.gram(Y).astype(np.float32)
    Xj, Xp = X.copy(), X.copy()
    args = (indptr, idx, conf)
    assert als_kernels.cg_rows(*args, Xj, Y, G, np.float32(0.1), 3, 0, 30) == als_kernels.OK
    assert als_kernels.cg_rows.py_func(*args, Xp, Y, G, np.float32(0.1), 3, 0,
                                       30) == als_kernels.OK
    np.testing.assert_allclose(Xj, Xp, rtol=1e-4, atol=1e-5)
    assert not np.array_equal(Xj, X)
    np.testing.assert_array_equal(Xj[3], 0.0)  # an empty row's exact solution


@pytest.mark.parametrize("k", [5, 8])
def test_a_cg_row_does_not_depend_on_its_group(k):
    _, indptr, idx, conf, X, Y = _problem(k=k)
    G = als_kernels.gram(Y).astype(np.float32)
    whole, parts = X.copy(), X.copy()
    als_kernels.cg_rows(indptr, idx, conf, whole, Y, G, np.float32(0.1), 3, 0, 30)
    for lo, hi in ((0, 7), (7, 9), (9, 30)):  # groups of four start elsewhere
        als_kernels.cg_rows(indptr, idx, conf, parts, Y, G, np.float32(0.1), 3, lo, hi)
    np.testing.assert_array_equal(whole, parts)


def _shuffled(indptr, idx, conf, seed=9):
    """The same CSR with its entries kept in a shuffled store and reached through an order:
    as the item side reads the user-sorted training rows."""
    perm = np.random.default_rng(seed).permutation(len(idx))
    store_idx = np.empty_like(idx)
    store_g = np.empty_like(conf[0])
    store_idx[perm], store_g[perm] = idx, conf[0]
    return store_idx, (store_g, conf[1], conf[2]), perm.astype(np.int32)


@pytest.mark.parametrize("solve", ["cg", "cholesky"])
def test_rows_reached_through_an_order_solve_as_the_regrouped_copy(solve):
    _, indptr, idx, conf, X, Y = _problem(k=5)
    store_idx, store_conf, order = _shuffled(indptr, idx, conf)
    G = als_kernels.gram(Y)
    if solve == "cg":
        kernel, args = als_kernels.cg_rows, (Y, G.astype(np.float32), np.float32(0.1), 3, 0, 30)
    else:
        kernel, args = als_kernels.cholesky_rows, (Y, G, 0.1, 0, 30)
    copy, through, twin = X.copy(), X.copy(), X.copy()
    assert kernel(indptr, idx, conf, copy, *args) == als_kernels.OK
    assert kernel(indptr, store_idx, store_conf, through, *args, order) == als_kernels.OK
    assert kernel.py_func(indptr, store_idx, store_conf, twin, *args, order) == als_kernels.OK
    np.testing.assert_array_equal(through, copy)  # the same sums in the same order
    np.testing.assert_allclose(twin, through, rtol=1e-4, atol=1e-5)
    assert not np.array_equal(through, X)


def test_the_item_side_is_an_order_of_the_training_rows_not_a_copy():
    data = generate(200, 120, 3000, shape="playlist", seed=5)
    run = als.ALSRun(_model(data), data)
    try:
        (_, items, _, none, _), (item_ptr, users, conf, order, _) = run.sides
        assert none is None and items is data.items
        assert users is data.users and conf[0] is data.values and order.dtype == np.int32
        np.testing.assert_array_equal(order, np.argsort(data.items, kind="stable"))
        np.testing.assert_array_equal(np.diff(item_ptr), data.item_counts())
    finally:
        run.close()


def test_cholesky_rows_and_observed_loss_match_their_twins():
    _, indptr, idx, conf, X, Y = _problem()
    G = als_kernels.gram(Y)
    Xj, Xp = X.copy(), X.copy()
    assert als_kernels.cholesky_rows(indptr, idx, conf, Xj, Y, G, 0.1, 0, 30) == als_kernels.OK
    assert als_kernels.cholesky_rows.py_func(indptr, idx, conf, Xp, Y, G, 0.1, 0,
                                             30) == als_kernels.OK
    np.testing.assert_allclose(Xj, Xp, rtol=1e-5, atol=1e-6)
    got = als_kernels.observed_loss(indptr, idx, conf, X, Y, 2, 25)
    want = als_kernels.observed_loss.py_func(indptr, idx, conf, X, Y, 2, 25)
    assert got[1] == want[1] == als_kernels.OK
    assert got[0] == pytest.approx(want[0], rel=1e-5)


def test_exact_and_converged_cg_solves_match_the_normal_equations():
    dense, indptr, idx, conf, X, Y = _problem()
    want = _normal_equations(dense, Y, reg=0.1)
    Xc, Xg = X.copy(), X.copy()
    G = als_kernels.gram(Y)
    als_kernels.cholesky_rows(indptr, idx, conf, Xc, Y, G, 0.1, 0, 30)
    als_kernels.cg_rows(indptr, idx, conf, Xg, Y, G.astype(np.float32), np.float32(0.1), 25, 0,
                        30)
    np.testing.assert_allclose(Xc, want, atol=1e-5)
    np.testing.assert_allclose(Xg, want, atol=1e-4)
    # three warm-started steps are not the solution yet, but get closer than the start
    X3 = X.copy()
    als_kernels.cg_rows(indptr, idx, conf, X3, Y, G.astype(np.float32), np.float32(0.1), 3, 0,
                        30)
    assert np.abs(X3 - want).max() < np.abs(X - want).max()
    assert np.abs(X3 - want).max() > 1e-4


def test_kernels_report_the_first_non_finite_row():
    _, indptr, idx, conf, X, Y = _problem()
    G = als_kernels.gram(Y)
    j = idx[indptr[7]]
    first = min(u for u in range(30) if j in idx[indptr[u]:indptr[u + 1]])
    Y = Y.copy()
    Y[j] = np.nan
    assert als_kernels.cg_rows(indptr, idx, conf, X.copy(), Y, G.astype(np.float32),
                               np.float32(0.1), 3, 0, 30) == first
    assert als_kernels.cholesky_rows(indptr, idx, conf, X.copy(), Y, G, 0.1, 0, 30) == first
    assert als_kernels.observed_loss(indptr, idx, conf, X, Y, 0, 30)[1] == first
    Y[j] = 1e30  # finite, but the solution overflows float32
    assert als_kernels.cholesky_rows(indptr, idx, conf, X.copy(), Y, G, 0.1, 0, 30) == first


# ---- driver ---------------------------------------------------------------------------------
@pytest.mark.parametrize("solve", ["cg", "cholesky"])
def test_objective_is_exact_and_never_increases(solve):
    dense, *_ = _problem(n_rows=40, n_cols=30, k=6, density=0.2, seed=1)
    u, i = np.nonzero(dense)
    train = inter(zip(u, i, dense[u, i]), 40, 30)
    m = _model(train, factors=6, solve=solve, alpha=2.0)
    run = als.ALSRun(m, train)
    start = run.measure(0, 1.0).loss
    assert start == pytest.approx(_objective(dense, m.user_factors_, m.item_factors_, 0.1, 2.0),
                                  rel=1e-6)
    losses = [start]
    for e in range(1, 9):
        assert run.epoch(e, None) == "ok"
        stats = run.measure(e, 0.5)
        assert stats.loss == pytest.approx(
            _objective(dense, m.user_factors_, m.item_factors_, 0.1, 2.0), rel=1e-6)
        assert np.isnan(stats.train_rmse) and np.isnan(stats.val_rmse)
        assert stats.ratings_per_s == pytest.approx(len(train) / 0.5)
        losses.append(stats.loss)
    run.close()
    assert all(b <= a * (1 + 1e-6) for a, b in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.5 * losses[0]


def test_log1p_confidence():
    c = als.confidence(np.array([0, 1, 9], np.float32), 2.0, "log1p")
    np.testing.assert_allclose(c, 1 + 2 * np.log1p([0, 1, 9]), rtol=1e-6)
    assert c.dtype == np.float32


def _clustered_playlists(n_users=1200, n_items=600, groups=12, per_user=30, seed=4):
    """Playlists drawn 85% from their group's songs (by a Zipf popularity), 15% from all songs.

    The planted answer: a user's unseen songs are the popular songs of their group, which no
    global popularity ranking finds for more than one group.
    """
    rng = np.random.default_rng(seed)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.8
    item_group = rng.integers(0, groups, n_items)
    rows = []
    for u in range(n_users):
        g = u % groups
        own = np.flatnonzero(item_group == g)
        w = np.where(item_group == g, 0.85 / pop[own].sum(), 0.15 / pop.sum()) * pop
        items = rng.choice(n_items, per_user, replace=False, p=w / w.sum())
        rows.extend((u, i) for i in items)
    return inter(rows, n_users, n_items)


@pytest.mark.parametrize("solve", ["cg", "cholesky"])
def test_planted_playlists_are_recovered_far_above_popularity(solve):
    data = _clustered_playlists()
    sp = holdout_split(data, frac=0.2, seed=0)
    m, _ = _fit(sp.train, 8, factors=16, reg=0.1, alpha=5.0, solve=solve)
    model_like = types.SimpleNamespace(
        user_factors_=m.user_factors_, item_factors_=m.item_factors_,
        user_bias_=np.zeros(data.n_users, np.float32),
        item_bias_=np.zeros(data.n_items, np.float32), global_mean_=0.0,
        params={"biased": False})
    ours = evaluate_ranking(model_like, sp.train, sp.val, k=10).precision
    pop = evaluate_ranking(popularity_model(sp.train), sp.train, sp.val, k=10).precision
    assert ours > 3.0 * pop, (ours, pop)


def test_seeded_runs_repeat_exactly_and_seeds_differ():
    data = generate(200, 120, 3000, shape="playlist", seed=5)
    a, la = _fit(data, 3, seed=7)
    b, lb = _fit(data, 3, seed=7)
    c, _ = _fit(data, 3, seed=8)
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    assert la == lb
    assert not np.array_equal(a.item_factors_, c.item_factors_)


@pytest.mark.parametrize("solve", ["cg", "cholesky"])
def test_thread_count_does_not_change_results(monkeypatch, solve):
    monkeypatch.setattr(als, "_CHUNK_WORK", 20_000)  # many chunks, so threads interleave
    monkeypatch.setattr(als, "_GRAM_ROWS", 50)
    data = generate(600, 300, 12_000, shape="msd", seed=6)
    one, l1 = _fit(data, 2, threads=1, solve=solve, confidence="log1p")
    two, l2 = _fit(data, 2, threads=2, solve=solve, confidence="log1p")
    np.testing.assert_array_equal(one.user_factors_, two.user_factors_)
    np.testing.assert_array_equal(one.item_factors_, two.item_factors_)
    assert l1 == l2


def test_progress_reaches_one():
    data = generate(300, 100, 5000, shape="playlist", seed=2)
    run = als.ALSRun(_model(data), data)
    seen = []
    assert run.epoch(1, seen.append) == "ok"
    run.close()
    assert seen[-1] == 1.0 and seen == sorted(seen)


def test_cancel_from_another_thread_stops_within_a_second():
    rng = np.random.default_rng(3)  # 2M pairs, drawn faster than generate() would draw them
    n = 2_000_000
    data = Interactions.from_codes(np.repeat(np.arange(100_000), 20),
                                   rng.integers(0, 20_000, n), rng.integers(1, 9, n),
                                   np.arange(100_000), np.arange(20_000))
    m = _model(data, factors=128, threads=2)
    run = als.ALSRun(m, data, cancel=(cancel := threading.Event()))
    outcome = []
    worker = threading.Thread(target=lambda: outcome.extend(run.epoch(e, None)
                                                             for e in range(1, 100)))
    worker.start()
    time.sleep(1.0)
    t0 = time.perf_counter()
    cancel.set()
    worker.join(10)
    latency = time.perf_counter() - t0
    assert not worker.is_alive() and latency < 1.0
    assert outcome[-1] == "cancelled"
    assert run.measure(1, 1.0) is None
    run.close()


def test_non_finite_factors_end_the_epoch_with_the_row():
    data = generate(200, 120, 3000, shape="playlist", seed=5)
    m = _model(data)
    m.item_factors_[int(data.items[-1])] = np.inf  # YᵀY is not finite: the first user fails
    assert als.ALSRun(m, data).epoch(1, None) == 0
    m = _model(data)
    m.user_factors_[5] = np.nan  # CG starts from the previous row
    assert als.ALSRun(m, data).epoch(1, None) == 5
    m = _model(data, solve="cholesky")
    m.user_factors_[5] = np.nan  # the exact solve never reads it
    run = als.ALSRun(m, data)
    assert run.epoch(1, None) == "ok"
    m.item_factors_[3] = np.nan
    assert not np.isfinite(run.measure(1, 1.0).loss)


def test_a_diverged_item_is_counted_after_the_users(monkeypatch):
    data = generate(200, 120, 3000, shape="playlist", seed=5)
    real = als_kernels.cg_rows

    def item_2_fails(indptr, indices, conf, X, Y, G, reg, steps, lo, hi, order=None):
        if len(X) == data.n_items and lo <= 2 < hi:
            return 2
        return real(indptr, indices, conf, X, Y, G, reg, steps, lo, hi, order)

    monkeypatch.setattr(als_kernels, "cg_rows", item_2_fails)
    assert als.ALSRun(_model(data), data).epoch(1, None) == data.n_users + 2


@pytest.mark.parametrize("field, value", [
    ("factors", 0), ("factors", 2.5), ("reg", -1.0), ("reg", float("nan")), ("alpha", "1"),
    ("alpha", float("inf")), ("confidence", "sqrt"), ("cg_steps", 0), ("cg_steps", True),
    ("solve", "lu"), ("threads", -1), ("threads", 65), ("seed", -3), ("biased", True)])
def test_bad_params_raise_config_error_naming_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        MFModel(**{**PARAMS, "solver": "als", field: value})


def test_bad_factors_and_data_are_refused():
    data = inter([(0, 0, 2.0), (1, 1, 1.0)], 2, 2)
    m = _model(data)
    m.item_factors_ = m.item_factors_.astype(np.float64)
    with pytest.raises(ConfigError, match="item_factors_"):
        als.ALSRun(m, data)
    bad = inter([(0, 0, -2.0), (1, 1, 1.0)], 2, 2)
    with pytest.raises(DataError, match=">= 0"):
        als.ALSRun(_model(bad), bad)
    with pytest.raises(DataError, match="overflows"):
        als.confidence(np.array([3e38], np.float32), 10.0)


@pytest.mark.parametrize("kind", ["linear", "log1p"])
def test_confidence_weights_are_the_values_and_solve_as_an_array_of_confidences(kind):
    dense, indptr, idx, _, X, Y = _problem()
    values = dense[np.nonzero(dense)].astype(np.float32)
    weights = als.confidence_weights(values, 3.0, kind)
    if kind == "linear":  # the rows' own values: no array of confidences beside them
        assert np.shares_memory(weights[0], values) and weights[1:] == (3.0, 1.0)
    explicit = (als.confidence(values, 3.0, kind), 1.0, 0.0)
    G = als_kernels.gram(Y)
    a, b = X.copy(), X.copy()
    assert als_kernels.cholesky_rows(indptr, idx, weights, a, Y, G, 0.1, 0, 30) == als_kernels.OK
    assert als_kernels.cholesky_rows(indptr, idx, explicit, b, Y, G, 0.1, 0, 30) == als_kernels.OK
    np.testing.assert_array_equal(a, b)
    assert als_kernels.observed_loss(indptr, idx, weights, a, Y, 0, 30) == \
        als_kernels.observed_loss(indptr, idx, explicit, a, Y, 0, 30)

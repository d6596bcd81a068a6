"""Training: kernels against their twins, known-answer recovery, and every way a run can end."""
from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from mfcore import ConfigError, DataError, Interactions, ResourceError
from mfcore.load.synthetic import generate
from mfcore.evaluate.ranking import evaluate_ranking, popularity_model
from mfcore.model import EpochStats, FactorModel
from mfcore.split import holdout_split
from mfcore.train import (SOLVERS, MFModel, check_memory,
                          defaults, kernels, resolve_params)
from mfcore.train.presets import ALS_BINARY, ALS_VALUES, SGD_EXPLICIT, SGD_IMPLICIT
from mfcore.train.sgd import balanced_blocks


def _split(data: Interactions, frac: float = 0.2, seed: int = 0):
    mask = np.random.default_rng(seed).random(len(data)) >= frac
    return data.subset(mask), data.subset(~mask)


def _tiny_problem(n=400, n_users=20, n_items=30, k=5, seed=0):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n).astype(np.int32)
    items = rng.integers(0, n_items, n).astype(np.int32)
    values = (rng.random(n) * 4 + 1).astype(np.float32)
    state = [rng.normal(0, 0.1, (n_users, k)).astype(np.float32),
             rng.normal(0, 0.1, (n_items, k)).astype(np.float32),
             rng.normal(0, 0.1, n_users).astype(np.float32),
             rng.normal(0, 0.1, n_items).astype(np.float32)]
    return users, items, values, state


def _reference_sgd(users, items, values, order, P, Q, bu, bi, mu, lr, reg, biased):
    """The update of definitions.md, written out in plain Python floats."""
    for row in order:
        u, i, r = int(users[row]), int(items[row]), float(values[row])
        pred = sum(float(P[u, f]) * float(Q[i, f]) for f in range(P.shape[1]))
        if biased:
            pred += mu + float(bu[u]) + float(bi[i])
        e = r - pred
        if biased:
            bu[u] += lr * (e - reg * bu[u])
            bi[i] += lr * (e - reg * bi[i])
        pu, qi = P[u].astype(np.float64), Q[i].astype(np.float64)
        P[u] = pu + lr * (e * qi - reg * pu)
        Q[i] = qi + lr * (e * pu - reg * qi)


@pytest.mark.parametrize("biased", [True, False])
def test_sgd_kernel_matches_python_twin_and_reference(biased):
    users, items, values, state = _tiny_problem()
    if not biased:
        state[2][:] = 0
        state[3][:] = 0
    jit, twin, ref = ([a.copy() for a in state] for _ in range(3))
    mu = np.float32(3.0 if biased else 0.0)
    common = (mu, np.float32(0.01), np.float32(0.02), np.float32(0.01 if biased else 0.0))
    assert kernels.sgd_chunk(users, items, values, 0, len(users), *jit, *common) == -1
    assert kernels.sgd_chunk.py_func(users, items, values, 0, len(users), *twin, *common) == -1
    _reference_sgd(users, items, values, range(len(users)), *ref, float(mu), 0.01, 0.02, biased)
    for a, b, c in zip(jit, twin, ref):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(a, c, rtol=1e-4, atol=1e-5)
    assert not np.allclose(jit[0], state[0])  # the kernel did update the factors
    if not biased:
        assert not jit[2].any() and not jit[3].any()


def test_sgd_kernel_reports_the_row_that_diverges():
    users, items, values, state = _tiny_problem()
    values = values.copy()
    values[123] = np.inf
    row = kernels.sgd_chunk(users, items, values, 0, len(users), *state, np.float32(3.0),
                            np.float32(0.01), np.float32(0.02), np.float32(0.01))
    assert row == 123


def test_negative_sampling_kernel_matches_twin():
    users, items, values, state = _tiny_problem()
    jit, twin = [a.copy() for a in state], [a.copy() for a in state]
    pool = np.arange(30, dtype=np.int32)
    common = (np.float32(0.0), np.float32(0.01), np.float32(0.02), np.float32(0.0), 1.5, pool, 42)
    kernels.sgd_chunk_negative(users, items, values, 0, len(users), *jit, *common)
    with np.errstate(over="ignore"):  # the twin's uint64 generator wraps, as in numba
        kernels.sgd_chunk_negative.py_func(users, items, values, 0, len(users), *twin, *common)
    for a, b in zip(jit, twin):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    plain = [a.copy() for a in state]
    kernels.sgd_chunk(users, items, values, 0, len(users), *plain, *common[:4])
    assert not np.allclose(plain[1], jit[1])  # the negatives did move the item factors


def test_error_sums_and_shuffle_match_twins():
    users, items, values, (P, Q, bu, bi) = _tiny_problem()
    args = (users, items, values, 0, len(users), P, Q, bu, bi, np.float32(3.0))
    sse, sae = kernels.error_sums(*args)
    sse2, sae2 = kernels.error_sums.py_func(*args)
    pred = 3.0 + bu[users] + bi[items] + np.einsum("ij,ij->i", P[users], Q[items])
    assert sse == pytest.approx(sse2, rel=1e-6) == pytest.approx(np.sum((values - pred) ** 2),
                                                                   rel=1e-5)
    assert sae == pytest.approx(np.sum(np.abs(values - pred)), rel=1e-5)
    rows = [a.copy() for a in (users, items, values)]
    twin = [a.copy() for a in (users, items, values)]
    kernels.shuffle_rows(*rows, 9)
    with np.errstate(over="ignore"):
        kernels.shuffle_rows.py_func(*twin, 9)
    for a, b in zip(rows, twin):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(rows[0], users)
    before = sorted(zip(users.tolist(), items.tolist(), values.tolist()))
    assert sorted(zip(*(a.tolist() for a in rows))) == before  # rows moved together


def test_recovers_planted_structure_far_better_than_biases(planted):
    data, truth = planted
    train, val = _split(data)
    mf = MFModel(factors=8, epochs=40, lr=0.01, reg=0.02, seed=0).fit(train, val)
    # Zero-initialised factors get zero gradients, so this is the biases-only model.
    biases = MFModel(factors=1, epochs=40, lr=0.01, reg=0.02, init_std=0.0).fit(train, val)
    assert mf.status_ == "fitted" and len(mf.history_) == 40
    assert mf.history_[-1].val_rmse < 0.4 * biases.history_[-1].val_rmse
    assert mf.history_[-1].val_rmse < 0.4  # noise is 0.1; biases alone leave ~0.8
    losses = [h.loss for h in mf.history_]
    assert losses[-1] < 0.2 * losses[0]


def test_history_reports_exact_loss_and_rmse(planted):
    data, _ = planted
    train, val = _split(data)
    m = MFModel(factors=4, epochs=3, lr=0.01, reg=0.05, seed=1).fit(train, val)
    h = m.history_[-1]
    e_train = train.values - m.predict(train.users, train.items)
    e_val = val.values - m.predict(val.users, val.items)
    penalty = sum(np.sum(m.user_factors_[u] ** 2) + np.sum(m.item_factors_[i] ** 2)
                  + m.user_bias_[u] ** 2 + m.item_bias_[i] ** 2
                  for u, i in zip(train.users[:200], train.items[:200]))
    assert h.train_rmse == pytest.approx(math.sqrt(np.mean(e_train.astype(np.float64) ** 2)),
                                         rel=1e-4)
    assert h.val_rmse == pytest.approx(math.sqrt(np.mean(e_val.astype(np.float64) ** 2)),
                                       rel=1e-4)
    assert h.loss > np.sum(e_train.astype(np.float64) ** 2) + 0.05 * penalty
    assert [s.epoch for s in m.history_] == [1, 2, 3]
    assert all(s.seconds > 0 and s.ratings_per_s > 0 for s in m.history_)


@pytest.mark.parametrize("threads", [1, 2])
def test_same_seed_gives_identical_factors(planted, threads):
    train, val = _split(planted[0])
    kw = dict(factors=6, epochs=4, lr=0.01, seed=5, threads=threads)
    a = MFModel(**kw).fit(train, val)
    b = MFModel(**kw).fit(train, val)
    c = MFModel(**{**kw, "seed": 6}).fit(train, val)
    assert a.threads_used_ == threads
    np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
    np.testing.assert_array_equal(a.item_bias_, b.item_bias_)
    assert not np.array_equal(a.user_factors_, c.user_factors_)


def test_parallel_mode_learns_as_well_as_single_thread(planted):
    train, val = _split(planted[0])
    one = MFModel(factors=8, epochs=30, lr=0.01, threads=1).fit(train, val)
    two = MFModel(factors=8, epochs=30, lr=0.01, threads=2).fit(train, val)
    assert two.history_[-1].val_rmse == pytest.approx(one.history_[-1].val_rmse, abs=0.03)


def test_balanced_blocks_split_interactions_evenly():
    counts = np.random.default_rng(0).zipf(1.5, 10_000).astype(float)
    counts = np.minimum(counts, 1000)
    for T in (2, 3):
        block = balanced_blocks(counts, T)
        totals = np.bincount(block, weights=counts)
        assert set(block) == set(range(T))
        assert np.all(np.diff(block) >= 0)  # consecutive runs: no false sharing between threads
        assert (totals.max() - totals.min()) <= counts.max() + 1


def test_unbiased_variant_keeps_biases_at_zero(planted):
    train, val = _split(planted[0])
    m = MFModel(factors=4, epochs=3, biased=False).fit(train, val)
    assert m.global_mean_ == 0.0
    assert not m.user_bias_.any() and not m.item_bias_.any()


def test_huge_learning_rate_ends_as_diverged_without_nan_factors(planted):
    train, val = _split(planted[0])
    m = MFModel(factors=8, epochs=5, lr=50.0, seed=0).fit(train, val)
    assert m.status_ == "diverged"
    epoch, step = m.diverged_at_
    assert epoch == 1 and step >= 0
    assert m.history_ == []
    for a in (m.user_factors_, m.item_factors_, m.user_bias_, m.item_bias_):
        assert np.isfinite(a).all()


def test_divergence_in_a_later_epoch_keeps_the_finished_epochs(planted):
    train, val = _split(planted[0])
    m = MFModel(factors=8, epochs=3, lr=0.01, seed=0).fit(train, val)
    before = m.user_factors_.copy()
    m.params["lr"] = 80.0
    m.fit_partial(train, val, epochs=2)
    assert m.status_ == "diverged" and m.diverged_at_[0] == 4
    assert len(m.history_) == 3
    np.testing.assert_array_equal(m.user_factors_, before)


def test_cancel_from_callback_keeps_finished_epochs(planted):
    train, val = _split(planted[0])
    cancel = threading.Event()

    def callback(stats):
        if stats.epoch == 2:
            cancel.set()

    m = MFModel(factors=4, epochs=10).fit(train, val, callback=callback, cancel=cancel)
    assert m.status_ == "cancelled" and len(m.history_) == 2


def test_cancel_mid_epoch_stops_within_a_second_and_restores_last_epoch():
    data = generate(20_000, 5_000, 1_500_000, shape="ratings", seed=3)
    cancel = threading.Event()
    epochs_done = []
    snapshots = {}
    model = MFModel(factors=64, epochs=1000, lr=0.002, threads=2)

    def callback(stats):
        epochs_done.append(stats.epoch)
        snapshots[stats.epoch] = model.user_factors_.copy()

    worker = threading.Thread(target=model.fit, args=(data,),
                              kwargs=dict(callback=callback, cancel=cancel))
    worker.start()
    deadline = time.time() + 60
    while not epochs_done and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.15)  # now well inside a later epoch
    t0 = time.perf_counter()
    cancel.set()
    worker.join(10)
    latency = time.perf_counter() - t0
    assert not worker.is_alive()
    assert latency < 1.0
    assert model.status_ == "cancelled"
    last = model.history_[-1].epoch
    np.testing.assert_array_equal(model.user_factors_, snapshots[last])


def test_early_stopping_restores_best_epoch(planted):
    train, val = _split(planted[0])
    # A large model with almost no regularisation overfits, so validation RMSE turns up.
    m = MFModel(factors=60, epochs=200, lr=0.02, reg=0.0, seed=0, early_stopping=True,
                patience=3).fit(train, val)
    assert m.status_ == "early_stopped"
    assert len(m.history_) == m.best_epoch_ + 3
    best = min(h.val_rmse for h in m.history_)
    assert m.history_[m.best_epoch_ - 1].val_rmse == best
    e = val.values - m.predict(val.users, val.items)
    assert math.sqrt(np.mean(e.astype(np.float64) ** 2)) == pytest.approx(best, rel=1e-4)


def test_fit_partial_continues_training(planted):
    train, val = _split(planted[0])
    m = MFModel(factors=6, epochs=3, lr=0.01).fit(train, val)
    rmse3 = m.history_[-1].val_rmse
    m.fit_partial(train, val, epochs=5)
    assert [h.epoch for h in m.history_] == list(range(1, 9))
    assert m.history_[-1].val_rmse < rmse3


def test_two_runs_in_two_threads_match_runs_alone(planted):
    train, val = _split(planted[0])
    configs = [dict(factors=6, epochs=5, seed=1, threads=2),
               dict(factors=9, epochs=5, seed=2, threads=2, lr=0.01)]
    alone = [MFModel(**c).fit(train, val) for c in configs]
    together = [MFModel(**c) for c in configs]
    threads = [threading.Thread(target=m.fit, args=(train, val)) for m in together]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for a, b in zip(alone, together):
        np.testing.assert_array_equal(a.user_factors_, b.user_factors_)
        np.testing.assert_array_equal(a.item_factors_, b.item_factors_)


def test_sgd_on_implicit_data_defaults_to_negative_sampling():
    data = generate(300, 200, 6_000, shape="playlist", seed=4)
    m = MFModel(factors=8, epochs=3, solver="sgd").fit(data)
    assert data.implicit and m.history_[-1].ratings_per_s > 0
    # With negatives, predictions are no longer all pushed to 1.
    assert m.predict(data.users, data.items).mean() < 0.95
    only_pos = MFModel(factors=8, epochs=30, neg_ratio=0, lr=0.05, solver="sgd").fit(data)
    assert only_pos.predict(data.users, data.items).mean() > 0.9


def test_unset_hyperparameters_are_chosen_by_the_kind_of_data():
    given = MFModel(factors=7).params
    assert given["lr"] is None and given["solver"] is None
    ratings = resolve_params(given, "ratings")
    assert ratings["solver"] == "sgd" and ratings["monitor"] == "val_rmse"
    assert {k: ratings[k] for k in SGD_EXPLICIT} == SGD_EXPLICIT
    for kind, als in (("counts", ALS_VALUES), ("binary", ALS_BINARY)):
        chosen = resolve_params(given, kind)
        assert chosen["solver"] == "als" and chosen["monitor"] == "ndcg"
        assert {k: chosen[k] for k in als} == als and chosen["factors"] == 7
    # ALS picked by hand for ratings takes the table of valued data (counts), not the playlists'.
    assert resolve_params({**given, "solver": "als"}, "ratings")["reg"] == ALS_VALUES["reg"]
    sgd = resolve_params({**given, "solver": "sgd"}, "binary")
    assert {k: sgd[k] for k in SGD_IMPLICIT} == SGD_IMPLICIT
    counts = resolve_params({**given, "solver": "sgd"}, "counts")  # the MSD notebook's way
    assert {k: counts[k] for k in SGD_EXPLICIT} == SGD_EXPLICIT
    assert sgd["neg_ratio"] >= 5 and sgd["biased"] is False
    chosen = resolve_params({**given, "solver": "sgd", "lr": 0.1, "biased": True}, "binary")
    assert chosen["lr"] == 0.1 and chosen["biased"] is True  # what is given is used as given
    assert chosen["reg"] == SGD_IMPLICIT["reg"]


def test_explicit_defaults_are_surprise_svd_and_recorded_after_fit(planted):
    train, val = _split(planted[0])
    auto = MFModel(factors=4, epochs=3, seed=2).fit(train, val)
    literal = MFModel(factors=4, epochs=3, seed=2, lr=0.005, reg=0.02, biased=True,
                      neg_ratio=0.0).fit(train, val)
    np.testing.assert_array_equal(auto.user_factors_, literal.user_factors_)
    np.testing.assert_array_equal(auto.item_bias_, literal.item_bias_)
    assert auto.global_mean_ == literal.global_mean_ != 0.0
    assert auto.params["lr"] == 0.005 and auto.params["neg_ratio"] == 0.0


def test_implicit_defaults_rank_better_than_popularity():
    """Guards the implicit recipe's ranking quality (the MPD figures: benchmarks/bench_quality)."""
    data = generate(500, 500, 40_000, rank=2, popularity_exponent=0.5, shape="playlist", seed=1)
    sp = holdout_split(data, frac=0.2, seed=0, min_items=5)

    def p_at_10(model):
        return evaluate_ranking(model, sp.train, sp.val, k=10).precision

    pop = p_at_10(popularity_model(sp.train))
    default = MFModel(solver="sgd").fit(sp.train)  # SGD's implicit recipe
    assert {k: default.params[k] for k in SGD_IMPLICIT} == SGD_IMPLICIT
    assert not default.user_bias_.any() and default.global_mean_ == 0.0
    small = MFModel(factors=32, epochs=30, solver="sgd").fit(sp.train)
    old = MFModel(neg_ratio=3.0, lr=0.005, reg=0.02,
                  biased=True).fit(sp.train)  # the former default: biased, γ 0.005, ρ 3
    assert p_at_10(default) > 1.2 * pop
    assert p_at_10(small) > 1.2 * pop
    assert p_at_10(default) > p_at_10(old) + 0.1 * pop


@pytest.mark.parametrize("kwargs, field", [
    (dict(factors=0), "factors"), (dict(epochs=-1), "epochs"), (dict(lr=0.0), "lr"),
    (dict(lr=float("nan")), "lr"), (dict(reg=-1.0), "reg"), (dict(threads=-1), "threads"),
    (dict(neg_ratio=-1.0), "neg_ratio"), (dict(neg_sampling="zipf"), "neg_sampling"),
    (dict(patience=0), "patience"), (dict(factors=2.5), "factors"),
])
def test_bad_hyperparameters_are_refused(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        MFModel(**kwargs)


def test_non_finite_values_never_reach_the_kernel(msd_small):
    bad = msd_small.values.copy()
    bad[7] = np.nan
    with pytest.raises(DataError, match="row 7"):
        MFModel(epochs=1).fit(msd_small.with_values(bad))


def test_shape_mismatch_on_continue_is_refused(msd_small, planted):
    m = MFModel(factors=2, epochs=1).fit(msd_small)
    with pytest.raises(DataError, match="fitted on"):
        m.fit_partial(planted[0])


def test_memory_check_refuses_what_would_not_fit():
    with pytest.raises(ResourceError, match="GiB"):
        check_memory(50_000_000, 10_000_000, 10**9, 500, available=24 * 2**30)
    assert check_memory(1000, 1000, 10_000, 10, available=24 * 2**30) > 0


def test_from_arrays_round_trips_a_fitted_model(msd_small):
    m = MFModel(factors=3, epochs=2).fit(msd_small)
    m2 = MFModel.from_arrays(m.params, user_factors=m.user_factors_,
                             item_factors=m.item_factors_, user_bias=m.user_bias_,
                             item_bias=m.item_bias_, global_mean=m.global_mean_,
                             history=[h.to_dict() for h in m.history_])
    np.testing.assert_array_equal(m.predict([0, 1], [2, 3]), m2.predict([0, 1], [2, 3]))
    assert m2.history_ == m.history_ and m2.factors == 3
    assert isinstance(m2, FactorModel) and m2.params == m.params
    m2.fit_partial(msd_small, epochs=1)  # an estimator again: it continues from the arrays
    assert [h.epoch for h in m2.history_] == [1, 2, 3]


def test_presets_are_the_single_source_of_defaults():
    """MFModel, the dashboard and the presets agree (ui.hparams derives its defaults from them)."""
    from ui.hparams import hp_defaults, model_kwargs
    for kind in ("ratings", "counts", "binary"):
        engine = resolve_params(MFModel().params, kind)
        assert engine == defaults(kind)
        form = hp_defaults(kind)  # every field filled, whichever solver is picked
        assert all(form[k] == v for k, v in engine.items() if v is not None)
        assert all(v is not None for v in form.values())
        assert resolve_params(MFModel(**model_kwargs(form)).params, kind) == engine
    # Surprise's SVD for ratings (the MovieLens reference of docs/definitions.md).
    assert {k: defaults("ratings")[k] for k in ("factors", "epochs", "lr", "reg", "init_std")} \
        == dict(factors=100, epochs=20, lr=0.005, reg=0.02, init_std=0.1)


def test_the_epoch_loop_drives_any_solver_through_the_run_protocol(monkeypatch, msd_small):
    """The seam another solver (ALS) plugs into: epoch / measure / close / threads."""
    calls = []

    class HalvingRun:
        threads = 1

        def __init__(self, model, train, val, cancel):
            self.model = model

        def epoch(self, epoch, progress):
            calls.append(("epoch", epoch))
            if epoch == 3:
                self.model.user_factors_[:] = np.nan  # the loop must undo a failed epoch
                return 17
            self.model.user_factors_ *= 0.5
            return "ok"

        def measure(self, epoch, seconds):
            return EpochStats(epoch, float(epoch), math.nan, math.nan, seconds, 1.0)

        def close(self):
            calls.append(("close",))

    monkeypatch.setitem(SOLVERS, "halving", HalvingRun)
    m = MFModel(factors=2, epochs=5, solver="halving", early_stopping=True,
                eval_sample=0)
    seen = []
    m.fit(msd_small, msd_small, callback=seen.append)
    start = MFModel(factors=2, epochs=0, solver="sgd").fit(msd_small).user_factors_
    assert m.status_ == "diverged" and m.diverged_at_ == (3, 17)
    assert [s.epoch for s in seen] == [1, 2] and m.best_epoch_ is None  # NaN val: nothing to watch
    np.testing.assert_array_equal(m.user_factors_, start * 0.25)
    assert calls == [("epoch", 1), ("epoch", 2), ("epoch", 3), ("close",)]
    with pytest.raises(ConfigError, match="solver"):
        MFModel(solver="newton")


def test_cancel_while_drawing_large_initial_factors_is_prompt():
    data = Interactions.from_codes(np.array([0, 199_999], np.int32), np.array([0, 1], np.int32),
                                   np.ones(2, np.float32), np.arange(200_000), np.arange(2))
    cancel = threading.Event()
    model = MFModel(factors=1024, epochs=5)
    worker = threading.Thread(target=model.fit, args=(data,), kwargs=dict(cancel=cancel))
    worker.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    cancel.set()
    worker.join(10)
    assert time.perf_counter() - t0 < 1.0
    assert model.status_ == "cancelled" and model.history_ == []


def test_memory_refusal_states_small_sizes_in_mib():
    with pytest.raises(ResourceError, match=r"MiB.*only 10.0 MiB"):
        check_memory(100_000, 10_000, 1_000_000, 64, available=10 * 2**20)


def test_the_builtin_data_ranks_at_twice_popularity_with_defaults():
    """A newcomer's first model on the built-in data beats popularity (issue: ranking-first)."""
    from mfcore.prepare import prepare
    from ui.session import builtin_dataset
    p = prepare(builtin_dataset())
    model = MFModel(eval_sample=0).fit(p.train, p.val)
    ours = evaluate_ranking(model, p.train, p.val, k=10).precision
    pop = evaluate_ranking(popularity_model(p.train), p.train, p.val, k=10).precision
    assert model.params["solver"] == "als" and ours >= 2 * pop, (ours, pop)


@pytest.mark.parametrize("threads", [2, 3])
def test_sgd_working_rows_are_the_rows_stably_grouped_by_stratum(planted, threads):
    # The parallel SGD groups its working copy of the rows by (user block, item block) with a
    # counting sort; it must be exactly the stable argsort it replaced (same factors as before).
    from mfcore.train.sgd import SGDRun
    train = planted[0]
    model = MFModel(solver="sgd", factors=4, epochs=1, threads=threads, seed=1)
    model._init_params(train)
    run = SGDRun(model, train, None, None)
    T = run.threads
    ublock = balanced_blocks(train.user_counts().astype(np.float64), T)
    iblock = balanced_blocks(train.item_counts().astype(np.float64), T)
    order = np.argsort(ublock[train.users].astype(np.int64) * T + iblock[train.items],
                       kind="stable")
    run.close()
    for name in ("users", "items", "values"):
        np.testing.assert_array_equal(getattr(run, name), getattr(train, name)[order])

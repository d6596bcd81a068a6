"""Ranking metrics against hand computations (definitions.md) and a brute-force reference."""
from __future__ import annotations

import math
import threading
import numpy as np
import pytest

from factories import inter, make_model
from mfcore.errors import ConfigError
from mfcore.evaluate.rank_kernel import rank_rows
from mfcore.evaluate.ranking import CURVE_COLUMNS, evaluate_ranking, popularity_model
from mfcore.evaluate.relevance import sorted_csr
from mfcore.interactions import Interactions
from mfcore.split import holdout_split
from mfcore.topk import select_top, top_n

A, B, C, D, E, F = range(6)


# ---- the worked example -----------------------------------------------------------------------
# One user, items a..f scored a=6 > b=5 > e=4 > c=3 > d=2 > f=1 (1-d factors, no biases).
WORKED = make_model([[1.0]], [[6], [5], [3], [2], [4], [1]])


def test_worked_example_heldout():
    train = inter([(0, A, 1), (0, B, 1)], 1, 6)
    held = inter([(0, C, 1), (0, D, 1)], 1, 6)
    r = evaluate_ranking(WORKED, train, held, k=2)
    assert r.top[0].tolist() == [E, C]
    assert r.precision == pytest.approx(0.5)
    assert r.recall == pytest.approx(0.5)
    # NDCG: hit at rank 2 only; ideal has 2 hits.
    assert r.ndcg == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    # R-precision: |R| = 2, top-2 = [e, c] -> 1/2.
    assert r.r_precision == pytest.approx(0.5)
    assert r.n_evaluated == 1 and r.n_skipped == 0
    assert r.coverage == pytest.approx(2 / 6)


def test_worked_example_favourites():
    # u's data {a: 5, b: 1, c: 3, d: 1}; k = 2 -> R = {a, c}; T over all items = [a, b].
    train = inter([(0, A, 5), (0, B, 1)], 1, 6)
    held = inter([(0, C, 3), (0, D, 1)], 1, 6)
    r = evaluate_ranking(WORKED, train, held, k=2, definition="favourites")
    assert r.top[0].tolist() == [A, B]
    assert r.precision == pytest.approx(0.5)
    assert r.recall == pytest.approx(0.5)
    assert r.per_subject["n_relevant"].tolist() == [2]
    # full_data gives the same answer.
    full = inter([(0, A, 5), (0, B, 1), (0, C, 3), (0, D, 1)], 1, 6)
    r2 = evaluate_ranking(WORKED, train, k=2, definition="favourites", full_data=full)
    assert (r2.precision, r2.recall) == (r.precision, r.recall)


def test_favourites_relevant_fewer_than_k_and_play_count_ties():
    # u has only two items (a:2, f:2): R = {a, f} for k = 3; T = [a, b, e] -> p = 1/3, r = 1/2.
    data = inter([(0, A, 2), (0, F, 2)], 1, 6)
    r = evaluate_ranking(WORKED, data, k=3, definition="favourites")
    assert r.precision == pytest.approx(1 / 3)
    assert r.recall == pytest.approx(1 / 2)
    # Ties in play count broken by the lower index: k = 1 -> R = {a} (not f).
    r1 = evaluate_ranking(WORKED, data, k=1, definition="favourites")
    assert r1.precision == 1.0 and r1.recall == 1.0


# ---- items direction (top fans) --------------------------------------------------------------
def test_items_direction_heldout_by_hand():
    # 4 users, 2 items. Users ranked for an item by b_u + p_u·q_i.
    P = [[1.0], [2.0], [3.0], [0.0]]
    Q = [[1.0], [-1.0]]
    bu = [0.0, 0.0, 0.0, 10.0]              # user 3 is everyone's top fan by bias alone
    model = make_model(P, Q, bu=bu)
    # item 0 scores: u0=1, u1=2, u2=3, u3=10. Train fans of item 0: {u3}; held out {u0, u1}.
    # Candidates {u0, u1, u2}; k=2 -> T = [u2, u1] -> precision 1/2, recall 1/2.
    # item 1 scores: u0=-1, u1=-2, u2=-3, u3=10; train {} held {u2} -> T=[u3, u0] -> 0, 0.
    train = inter([(3, 0, 1)], 4, 2)
    held = inter([(0, 0, 1), (1, 0, 1), (2, 1, 1)], 4, 2)
    r = evaluate_ranking(model, train, held, k=2, direction="items")
    ps = r.per_subject.set_index("subject")
    assert r.top.tolist() == [[2, 1], [3, 0]]
    assert ps.loc[0, ["precision", "recall"]].tolist() == [0.5, 0.5]
    assert ps.loc[1, "precision"] == 0 and ps.loc[1, "recall"] == 0
    assert r.precision == pytest.approx(0.25)
    assert r.coverage == 1.0                     # tops {2, 1} and {3, 0}: all 4 users


def test_items_direction_favourites_by_hand():
    P = [[1.0], [2.0], [3.0]]
    Q = [[1.0], [-1.0]]
    model = make_model(P, Q)
    # item 0 played: u0 x9, u1 x1, u2 x5 -> top-2 fans {u0, u2}; model T = [u2, u1] -> 1/2, 1/2.
    # item 1 played: u1 x4 only -> R = {u1}; T = [u0, u1] -> precision 1/2, recall 1.
    data = inter([(0, 0, 9), (1, 0, 1), (2, 0, 5), (1, 1, 4)], 3, 2)
    r = evaluate_ranking(model, data, k=2, definition="favourites", direction="items")
    ps = r.per_subject.set_index("subject")
    assert ps.loc[0, ["precision", "recall"]].tolist() == [0.5, 0.5]
    assert ps.loc[1, ["precision", "recall"]].tolist() == [0.5, 1.0]
    assert r.precision == pytest.approx(0.5) and r.recall == pytest.approx(0.75)


# ---- skipping, clamping, ties, threshold -------------------------------------------------------
def test_subjects_without_relevant_items_are_skipped_and_counted():
    model = make_model([[1.0], [1.0], [1.0]], [[6], [5], [3], [2], [4], [1]])
    train = inter([(0, A, 1), (1, A, 1), (2, B, 1)], 3, 6)
    held = inter([(0, B, 1)], 3, 6)              # users 1 and 2 have nothing held out
    r = evaluate_ranking(model, train, held, k=1)
    assert r.n_evaluated == 1 and r.n_skipped == 2
    assert r.per_subject["subject"].tolist() == [0]
    assert r.precision == 1.0
    # An explicit subject list counts only its own members.
    r2 = evaluate_ranking(model, train, held, k=1, subjects=[0, 2])
    assert r2.n_evaluated == 1 and r2.n_skipped == 1


def test_k_is_clamped_to_the_candidates():
    # 6 items, 4 trained -> 2 candidates {e, f}; held {f}; k=5 -> k_eff=2, T=[e, f].
    train = inter([(0, A, 1), (0, B, 1), (0, C, 1), (0, D, 1)], 1, 6)
    held = inter([(0, F, 1)], 1, 6)
    r = evaluate_ranking(WORKED, train, held, k=5)
    assert r.per_subject["k"].tolist() == [2]
    assert r.top[0].tolist() == [E, F, -1, -1, -1]
    assert r.precision == pytest.approx(1 / 2)
    assert r.recall == 1.0
    assert r.ndcg == pytest.approx((1 / math.log2(3)) / 1.0)
    # k above the catalogue in favourites: clamped to the 6 items.
    r2 = evaluate_ranking(WORKED, inter([(0, A, 1)], 1, 6), k=50, definition="favourites")
    assert r2.per_subject["k"].tolist() == [6] and r2.precision == pytest.approx(1 / 6)


def test_ties_broken_by_lower_index():
    # All scores equal: the top-k are the lowest-index candidates.
    model = make_model([[0.0]], [[0.0]] * 8)
    train = inter([(0, 1, 1)], 1, 8)
    held = inter([(0, 3, 1), (0, 7, 1)], 1, 8)
    r = evaluate_ranking(model, train, held, k=3)
    assert r.top[0].tolist() == [0, 2, 3]
    assert r.precision == pytest.approx(1 / 3) and r.recall == pytest.approx(1 / 2)
    # Partial ties: bias puts 5 and 6 on top (equal), then the rest by index.
    model2 = make_model([[0.0]], [[0.0]] * 8, bi=[0, 0, 0, 0, 0, 1, 1, 0])
    r2 = evaluate_ranking(model2, train, held, k=4)
    assert r2.top[0].tolist() == [5, 6, 0, 2]


def test_threshold_keeps_only_high_values():
    train = inter([(0, A, 1), (0, B, 1)], 1, 6)
    held = inter([(0, C, 5), (0, D, 1)], 1, 6)
    r = evaluate_ranking(WORKED, train, held, k=2, threshold=3)
    assert r.per_subject["n_relevant"].tolist() == [1]
    assert r.precision == pytest.approx(0.5) and r.recall == 1.0
    r2 = evaluate_ranking(WORKED, train, held, k=2, threshold=10)
    assert r2.n_evaluated == 0 and r2.n_skipped == 1 and math.isnan(r2.precision)


# ---- against a brute-force reference -----------------------------------------------------------
def brute(model, train, held, k, direction="users"):
    P, Q = model.user_factors_, model.item_factors_
    if direction == "items":
        P, Q = Q, P
        cb = model.user_bias_
        tr = train.csr("item")
        he = held.csr("item")
    else:
        cb = model.item_bias_
        tr = train.csr("user")
        he = held.csr("user")
    out = {}
    for s in range(len(P)):
        R = set(he[1][he[0][s]:he[0][s + 1]].tolist())
        if not R:
            continue
        sc = (P[s:s + 1] @ Q.T)[0] + cb
        ex = tr[1][tr[0][s]:tr[0][s + 1]]
        cand = np.setdiff1d(np.arange(len(Q)), ex)
        order = cand[np.lexsort((cand, -sc[cand]))]
        kk = min(k, len(cand))
        top = order[:kk]
        hits = [int(c in R) for c in top]
        dcg = sum(h / math.log2(j + 2) for j, h in enumerate(hits))
        idcg = sum(1 / math.log2(j + 2) for j in range(min(len(R), kk)))
        m = min(len(R), len(cand))
        out[s] = (sum(hits) / kk, sum(hits) / len(R), dcg / idcg,
                  len(R & set(order[:m].tolist())) / m)
    return out


@pytest.fixture(scope="module")
def small_case():
    rng = np.random.default_rng(3)
    n_u, n_i, k = 60, 45, 3
    # Quantised factors create many exact score ties.
    P = rng.integers(-2, 3, (n_u, k)).astype(np.float32)
    Q = rng.integers(-2, 3, (n_i, k)).astype(np.float32)
    model = make_model(P, Q, bu=rng.integers(0, 2, n_u), bi=rng.integers(0, 2, n_i))
    mask = rng.random((n_u, n_i)) < 0.3
    u, i = np.nonzero(mask)
    data = Interactions.from_codes(u, i, rng.integers(1, 5, len(u)), np.arange(n_u),
                                   np.arange(n_i))
    sp = holdout_split(data, 0.3, seed=1)
    return model, sp.train, sp.val


@pytest.mark.parametrize("direction", ["users", "items"])
@pytest.mark.parametrize("k", [1, 5, 40])
def test_matches_brute_force(small_case, direction, k):
    model, train, held = small_case
    ref = brute(model, train, held, k, direction)
    r = evaluate_ranking(model, train, held, k=k, direction=direction, batch_size=7, threads=2)
    got = {int(row.subject): (row.precision, row.recall, row.ndcg, row.r_precision)
           for row in r.per_subject.itertuples()}
    assert got.keys() == ref.keys()
    for s in ref:
        assert got[s] == pytest.approx(ref[s]), s


def test_batch_size_and_threads_do_not_change_results(small_case):
    model, train, held = small_case
    a = evaluate_ranking(model, train, held, k=5, batch_size=1, threads=1)
    b = evaluate_ranking(model, train, held, k=5, threads=2)
    assert np.array_equal(a.top, b.top)
    assert a.per_subject.equals(b.per_subject)


def test_kernel_matches_its_python_twin(small_case):
    model, train, held = small_case
    S = model.user_factors_ @ model.item_factors_.T
    subj = np.arange(len(S), dtype=np.int64)
    ex_ptr, ex_idx, _ = train.csr("user")
    rel_ptr, rel_idx, rel_rank = sorted_csr(held.users, held.items, train.n_users)
    n_c = train.n_items - np.diff(ex_ptr)
    ks = np.array([1, 4], np.int64)
    kk = np.minimum(ks[None, :], n_c[:, None]).astype(np.int64)
    mm = np.repeat(np.minimum(np.diff(rel_ptr), n_c)[:, None], 2, axis=1).astype(np.int64)
    outs = []
    for fn in (rank_rows, rank_rows.py_func):
        o = (np.zeros((len(S), 4), np.int32), np.zeros((len(S), 2), np.int64),
             np.zeros((len(S), 2), np.float64), np.zeros((len(S), 2), np.int64))
        fn(S.copy(), model.item_bias_, subj, ex_ptr, ex_idx.astype(np.int32), rel_ptr, rel_idx,
           rel_rank, ks, kk, mm, 0, len(S), *o)
        outs.append(o)
    for x, y in zip(*outs):
        assert np.array_equal(x, y)
    assert outs[0][1][:, 0].sum() > 0  # the planted case does have hits at k = 1


def test_select_top_matches_twin_and_top_n_breaks_ties_by_index():
    rng = np.random.default_rng(0)
    row = rng.integers(0, 4, 50).astype(np.float32)        # many exact ties
    row[[3, 9]] = -np.inf                                  # excluded
    bias = rng.integers(0, 2, 50).astype(np.float32)
    got = []
    for fn in (select_top, select_top.py_func):
        hv, hi = np.empty(7, np.float32), np.empty(7, np.int64)
        fn(row, bias, 7, hv, hi)
        got.append((hv, hi))
    assert np.array_equal(got[0][0], got[1][0]) and np.array_equal(got[0][1], got[1][1])
    total = row + bias
    order = np.lexsort((np.arange(50), -total))[:7]       # score desc, then index asc
    assert got[0][1].tolist() == order.tolist()
    idx, sc = top_n(row, 7, bias=bias)
    assert idx.tolist() == order.tolist() and sc.tolist() == total[order].tolist()
    # Fewer finite candidates than asked: the -inf ones never come back.
    idx, _ = top_n(np.array([-np.inf, 1.0, -np.inf], np.float32), 3)
    assert idx.tolist() == [1]


# ---- sampling, progress, cancel, errors ------------------------------------------------------
def test_sample_is_seeded_with_confidence_interval(small_case):
    model, train, held = small_case
    full = evaluate_ranking(model, train, held, k=5)
    r1 = evaluate_ranking(model, train, held, k=5, sample=20, seed=4)
    r2 = evaluate_ranking(model, train, held, k=5, sample=20, seed=4)
    assert r1.sampled and r1.n_evaluated == 20 and r1.n_population == full.n_evaluated
    assert r1.per_subject["subject"].tolist() == r2.per_subject["subject"].tolist()
    lo, hi = r1.precision_ci95
    assert lo <= r1.precision <= hi
    lo, hi = r1.recall_ci95
    assert lo <= r1.recall <= hi
    # Sample at least the population: everything, no interval.
    r3 = evaluate_ranking(model, train, held, k=5, sample=10_000)
    assert not r3.sampled and r3.precision_ci95 is None and r3.precision == full.precision


def test_progress_and_cancel(small_case):
    model, train, held = small_case
    calls = []
    evaluate_ranking(model, train, held, k=5, batch_size=10,
                     progress=lambda f, msg: calls.append(f))
    assert calls[0] == 0.0 and calls[-1] == 1.0 and len(calls) > 3
    ev = threading.Event()

    def stop_after_first(f, msg):
        if f > 0:
            ev.set()

    r = evaluate_ranking(model, train, held, k=5, batch_size=10, progress=stop_after_first,
                         cancel=ev)
    assert r.cancelled and r.n_evaluated == 10 and len(r.per_subject) == 10


@pytest.mark.parametrize("kwargs", [
    dict(definition="nope"), dict(direction="songs"), dict(k=0), dict(k=2.5),
    dict(definition="favourites", threshold=1.0), dict(sample=0), dict(subjects=[99]),
    dict(batch_size=0),
])
def test_bad_options(kwargs):
    train = inter([(0, A, 1)], 1, 6)
    held = inter([(0, B, 1)], 1, 6)
    with pytest.raises(ConfigError):
        evaluate_ranking(WORKED, train, held, **kwargs)


def test_heldout_required_and_shapes_checked():
    train = inter([(0, A, 1)], 1, 6)
    with pytest.raises(ConfigError, match="heldout"):
        evaluate_ranking(WORKED, train, k=2)
    with pytest.raises(ConfigError, match="model has"):
        evaluate_ranking(WORKED, inter([(0, A, 1)], 1, 7), inter([(0, B, 1)], 1, 7))
    with pytest.raises(ConfigError, match="split"):
        evaluate_ranking(WORKED, train, inter([(0, B, 1)], 2, 6))


def test_full_data_is_ignored_by_the_heldout_definition():
    train = inter([(0, A, 1), (0, B, 1)], 1, 6)
    held = inter([(0, C, 1), (0, D, 1)], 1, 6)
    full = inter([(0, A, 1), (0, B, 1), (0, C, 1), (0, D, 1)], 1, 6)
    r = evaluate_ranking(WORKED, train, held, k=2, full_data=full)
    assert (r.precision, r.recall) == (0.5, 0.5)


def test_popularity_model_ranks_by_training_counts():
    from mfcore.recommend import recommend, top_fans

    train = Interactions.from_raw(["a", "a", "b", "b", "c", "c", "c"],
                                  ["x", "y", "x", "z", "x", "y", "w"])
    pop = popularity_model(train)
    items, _ = recommend(pop, 0, n=4)
    assert [train.item_ids[i] for i in items] == ["x", "y", "z", "w"]  # ties by index
    users, _ = top_fans(pop, 0, n=3)
    assert train.user_ids[users[0]] == "c"  # the most active user first


# ---- several k in one pass ---------------------------------------------------------------------
KS = [1, 2, 3, 5, 10, 15, 20, 40]


def _same(one, sep) -> None:
    """Every figure of ``one`` (from the multi-k pass) equals the single-k call ``sep``."""
    for f in ("k", "precision", "recall", "ndcg", "r_precision", "coverage", "n_evaluated",
              "n_skipped", "n_population", "sampled", "precision_ci95", "recall_ci95",
              "batch_size", "description"):
        a, b = getattr(one, f), getattr(sep, f)
        assert a == b or (a != a and b != b), (f, a, b)   # NaN == NaN here
    assert np.array_equal(one.top, sep.top)
    assert one.per_subject.equals(sep.per_subject)


@pytest.mark.parametrize("direction", ["users", "items"])
@pytest.mark.parametrize("definition, extra", [
    ("heldout", {}), ("heldout", {"threshold": 3}), ("favourites", {}),
    ("heldout", {"sample": 25, "seed": 3}), ("favourites", {"sample": 25, "seed": 3}),
])
def test_one_pass_over_several_k_equals_separate_calls(small_case, direction, definition, extra):
    model, train, held = small_case
    kw = dict(definition=definition, direction=direction, batch_size=7, threads=2, **extra)
    res = evaluate_ranking(model, train, held, k=KS, **kw)
    assert res.k == max(KS) and res.curve["k"].tolist() == KS
    assert list(res.curve.columns) == list(CURVE_COLUMNS)
    for k in KS:
        sep = evaluate_ranking(model, train, held, k=k, **kw)
        _same(res.at(k), sep)
        row = res.curve.set_index("k").loc[k]
        assert (row.precision, row.recall, row.ndcg) == (sep.precision, sep.recall, sep.ndcg)
    # The curve moves with k; held-out recall can only grow (same R, longer top-k).
    assert res.curve["recall"].iloc[-1] > res.curve["recall"].iloc[0]
    if definition == "heldout":
        assert res.curve["recall"].is_monotonic_increasing


def test_several_k_worked_example_and_errors():
    train = inter([(0, A, 1), (0, B, 1)], 1, 6)
    held = inter([(0, C, 1), (0, D, 1)], 1, 6)
    res = evaluate_ranking(WORKED, train, held, k=(3, 1, 2, 2))   # unsorted, repeated
    # Candidates ranked [e, c, d, f]: hits at ranks 2 and 3.
    assert res.curve["k"].tolist() == [1, 2, 3]
    assert res.curve["precision"].tolist() == pytest.approx([0.0, 0.5, 2 / 3])
    assert res.curve["recall"].tolist() == pytest.approx([0.0, 0.5, 1.0])
    assert res.at(2).top[0].tolist() == [E, C] and res.top[0].tolist() == [E, C, D]
    assert evaluate_ranking(WORKED, train, held, k=2).curve["k"].tolist() == [2]
    with pytest.raises(ConfigError, match="not evaluated"):
        res.at(4)
    for bad in ([], [0, 2], [1.5]):
        with pytest.raises(ConfigError, match="k must"):
            evaluate_ranking(WORKED, train, held, k=bad)


def test_estimate_scales_a_timed_sample_to_every_subject():
    from mfcore.evaluate.estimate import estimate_seconds
    from mfcore.load.synthetic import generate
    from mfcore.split import holdout_split
    from mfcore.train import MFModel
    sp = holdout_split(generate(1200, 400, 30_000, seed=2), frac=0.2, seed=0)
    model = MFModel(factors=8, epochs=2, solver="als").fit(sp.train)
    est = estimate_seconds(model, sp.train, sp.val, k=10, sample=100)
    full = evaluate_ranking(model, sp.train, sp.val, k=10)
    assert est.n_timed == 100 and est.n_subjects == full.n_evaluated
    assert 0 <= est.setup < est.timed
    assert est.seconds == pytest.approx(est.setup + (est.timed - est.setup)
                                        * full.n_evaluated / 100)


def test_estimate_counts_the_setup_once_not_once_per_sampled_subject(monkeypatch):
    # Building the relevant sets of 48M rows takes seconds whether 300 users are ranked or a
    # million: scaled like the ranking, it made the estimate thousands of times too long.
    import time

    from mfcore.evaluate import ranking
    from mfcore.evaluate.estimate import estimate_seconds
    from mfcore.load.synthetic import generate
    from mfcore.split import holdout_split
    from mfcore.train import MFModel
    sp = holdout_split(generate(1200, 400, 30_000, seed=2), frac=0.2, seed=0)
    model = MFModel(factors=8, epochs=2, solver="als").fit(sp.train)
    real = ranking.relevance

    def slow_relevance(*args):
        time.sleep(0.3)
        return real(*args)

    monkeypatch.setattr(ranking, "relevance", slow_relevance)
    est = estimate_seconds(model, sp.train, sp.val, k=10, sample=10)
    assert est.setup >= 0.3 and est.n_subjects > 100 * est.n_timed
    assert est.seconds < 10 * 0.3  # scaled with the subjects it would be over 30 s


def test_sorted_csr_takes_sorted_rows_as_they_are_and_sorts_the_others():
    rng = np.random.default_rng(3)
    key = np.unique(rng.integers(0, 40 * 30, 300))
    rows, cols = (key // 30).astype(np.int32), (key % 30).astype(np.int32)
    perm = rng.permutation(len(rows))
    fast, slow = sorted_csr(rows, cols, 40), sorted_csr(rows[perm], cols[perm], 40)
    assert all(np.array_equal(a, b) for a, b in zip(fast, slow))
    assert np.shares_memory(fast[1], cols)  # the sorted input itself, no lexsort copy
    assert np.array_equal(np.diff(fast[0]), np.bincount(rows, minlength=40))

"""The tiled ranking kernel (rank_tile + finish_rows) against its Python twins and the untiled
kernel, on tie-heavy scores with exclusions that fall on and across tile edges."""
from __future__ import annotations

import numpy as np
import pytest

from factories import inter, make_model
from mfcore.evaluate.rank_kernel import (finish_rows, rank_batches, rank_rows, rank_tile)
from mfcore.evaluate import ranking
from mfcore.evaluate.ranking import evaluate_ranking
from mfcore.evaluate.relevance import sorted_csr
from mfcore.topk import heap_finish, heap_offer, heap_start, select_top

N_SUBJ, N_CAND, DIM = 9, 150, 2


def _case(seed=0):
    """Small-integer factors and biases: exact products, many exact ties. Subject 0 excludes
    every candidate but three (fewer than K), subject 1 nothing; the others exclude random
    candidates plus tile edges (63, 64, 127, 128, the last)."""
    rng = np.random.default_rng(seed)
    A = rng.integers(-1, 2, (N_SUBJ, DIM)).astype(np.float32)
    B = rng.integers(-1, 2, (N_CAND, DIM)).astype(np.float32)
    bias = rng.integers(0, 2, N_CAND).astype(np.float32)
    rows, cols = [], []
    for s in range(N_SUBJ):
        if s == 0:
            ex = np.setdiff1d(np.arange(N_CAND), [5, 70, 149])
        elif s == 1:
            ex = np.array([], np.int64)
        else:
            ex = np.union1d(rng.choice(N_CAND, 30, replace=False), [63, 64, 127, 128, 149])
        rows += [s] * len(ex)
        cols += ex.tolist()
    excl = sorted_csr(np.array(rows, np.int64), np.array(cols, np.int64), N_SUBJ)[:2]
    rs = np.repeat(np.arange(N_SUBJ), 6)
    rc = rng.integers(0, N_CAND, len(rs))
    key = np.unique(rs * N_CAND + rc)
    rel = sorted_csr(key // N_CAND, key % N_CAND, N_SUBJ)
    ks = np.array([1, 4, 7], np.int64)
    n_c = N_CAND - np.diff(excl[0])
    kk = np.minimum(ks[None, :], n_c[:, None]).astype(np.int64)
    mm = np.repeat(np.minimum(np.diff(rel[0]), n_c)[:, None], len(ks), axis=1).astype(np.int64)
    return A, B, bias, excl, rel, ks, kk, mm


def _outs(n, width, nk):
    return (np.zeros((n, width), np.int32), np.zeros((n, nk), np.int64),
            np.zeros((n, nk), np.float64), np.zeros((n, nk), np.int64))


def _untiled(A, B, bias, excl, rel, ks, kk, mm):
    o = _outs(N_SUBJ, int(ks[-1]), len(ks))
    rank_rows.py_func(A @ B.T, bias, np.arange(N_SUBJ, dtype=np.int64), *excl, *rel, ks, kk, mm,
                      0, N_SUBJ, *o)
    return o


def _assert_same(x, y):
    for a, b in zip(x, y):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("w", [64, 50, N_CAND])
def test_tile_kernels_and_their_twins_match_the_untiled_kernel(w):
    A, B, bias, excl, rel, ks, kk, mm = _case()
    ref = _untiled(A, B, bias, excl, rel, ks, kk, mm)
    assert ref[1][:, -1].sum() > 0 and (ref[0] == -1).any()   # hits, and a clamped subject
    subj = np.arange(N_SUBJ, dtype=np.int64)
    Ks = np.maximum(kk[:, -1], mm[:, -1])
    S = A @ B.T
    for tile, finish in ((rank_tile, finish_rows), (rank_tile.py_func, finish_rows.py_func)):
        HV = np.empty((N_SUBJ, Ks.max()), np.float32)
        HI = np.empty(HV.shape, np.int64)
        epos = np.empty(N_SUBJ, np.int64)
        for c0 in range(0, N_CAND, w):
            T = np.ascontiguousarray(S[:, c0:c0 + w])
            tile(T, bias, c0, N_CAND, subj, *excl, epos, Ks, HV, HI, 0, N_SUBJ)
        o = _outs(N_SUBJ, int(ks[-1]), len(ks))
        finish(HV, HI, Ks, subj, *rel, ks, kk, mm, 0, N_SUBJ, *o)
        _assert_same(o, ref)


@pytest.mark.parametrize("tile_bytes, threads, batch", [(1, 1, 4), (1, 2, N_SUBJ),
                                                        (1 << 20, 2, 5)])
def test_rank_batches_matches_the_untiled_kernel(tile_bytes, threads, batch):
    A, B, bias, excl, rel, ks, kk, mm = _case(1)
    ref = _untiled(A, B, bias, excl, rel, ks, kk, mm)
    chosen = np.arange(N_SUBJ, dtype=np.int64)
    t = rank_batches(A, B, bias, chosen, excl, rel, ks, kk, mm, int(ks[-1]), batch, threads,
                     tile_bytes=tile_bytes)
    assert t.done == N_SUBJ and not t.cancelled
    _assert_same((t.top, t.hits, t.dcg, t.hits_m), ref)


def test_exclusions_out_of_order_are_sorted_first():
    A, B, bias, excl, rel, ks, kk, mm = _case(2)
    ref = _untiled(A, B, bias, excl, rel, ks, kk, mm)
    indptr, indices = excl
    shuffled = indices.copy()
    for s in range(N_SUBJ):
        shuffled[indptr[s]:indptr[s + 1]] = shuffled[indptr[s]:indptr[s + 1]][::-1]
    t = rank_batches(A, B, bias, np.arange(N_SUBJ, dtype=np.int64), (indptr, shuffled), rel,
                     ks, kk, mm, int(ks[-1]), N_SUBJ, 1, tile_bytes=1)
    _assert_same((t.top, t.hits, t.dcg, t.hits_m), ref)


def test_a_row_offered_in_segments_selects_as_in_one_go():
    rng = np.random.default_rng(3)
    row = rng.integers(0, 3, 300).astype(np.float32)        # many exact ties
    row[rng.choice(300, 40, replace=False)] = -np.inf
    bias = rng.integers(0, 2, 300).astype(np.float32)
    for K in (1, 12, 270):                                   # 270 > the finite entries
        hv, hi = np.empty(K, np.float32), np.empty(K, np.int64)
        select_top(row, bias, K, hv, hi)
        for start, offer, finish in ((heap_start, heap_offer, heap_finish),
                                     (heap_start.py_func, heap_offer.py_func,
                                      heap_finish.py_func)):
            gv, gi = np.empty(K, np.float32), np.empty(K, np.int64)
            start(gv, gi, len(row), K)
            for c0, c1 in ((0, 64), (64, 65), (65, 200), (200, 300)):
                offer(row[c0:c1], bias[c0:c1], c0, K, gv, gi)
            finish(gv, gi, K)
            assert np.array_equal(gv, hv) and np.array_equal(gi, hi)
        order = np.lexsort((np.arange(300), -(row + bias)))[:min(K, 260)]
        assert hi[:len(order)].tolist() == order.tolist()


def test_blas_is_single_threaded_while_any_ranking_runs_then_restored():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from mfcore.evaluate.rank_kernel import one_blas_thread

    def blas_threads():
        return {i["num_threads"] for i in threadpoolctl.threadpool_info()
                if i["user_api"] == "blas"}

    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() == {2}
        first, second = one_blas_thread(), one_blas_thread()
        first.__enter__()
        assert blas_threads() == {1}
        second.__enter__()              # a second ranking, in another session
        first.__exit__(None, None, None)
        assert blas_threads() == {1}    # still running: the limit stays
        second.__exit__(None, None, None)
        assert blas_threads() == {2}


def _tiny():
    rng = np.random.default_rng(4)
    model = make_model(rng.standard_normal((31, 3)).astype(np.float32),
                       rng.standard_normal((20, 3)).astype(np.float32))
    train = inter([(u, u % 20) for u in range(31)], 31, 20)
    held = inter([(u, (u + 7) % 20) for u in range(31)], 31, 20)
    return model, train, held


def test_fewer_subjects_than_a_batch_are_split_among_the_threads():
    model, train, held = _tiny()
    one = evaluate_ranking(model, train, held, k=3, threads=1)
    two = evaluate_ranking(model, train, held, k=3, threads=2)
    assert (one.batch_size, two.batch_size) == (31, 16)     # 256 MB would hold them all
    assert np.array_equal(one.top, two.top) and one.per_subject.equals(two.per_subject)


def test_default_batches_come_in_a_multiple_of_the_threads(monkeypatch):
    model, train, held = _tiny()
    monkeypatch.setattr(ranking, "SCORE_BUDGET_BYTES", 12 * 20 * 4)   # 12 subjects' scores
    one = evaluate_ranking(model, train, held, k=3, threads=1)
    two = evaluate_ranking(model, train, held, k=3, threads=2)
    # 31 subjects: 3 batches of 11 on one thread; on two, 4 of 8 (3 would leave one alone).
    assert (one.batch_size, two.batch_size) == (11, 8)
    assert np.array_equal(one.top, two.top) and one.per_subject.equals(two.per_subject)

"""mfcore.topn.top_n (numpy) selects exactly what mfcore.topk.select_top (numba) and its Python
twin select: score descending, ties to the lower index, excluded entries never, n clamped."""
from __future__ import annotations

import numpy as np
import pytest

from mfcore.topk import select_top
from mfcore.topn import top_n


def heap_top(row, n, exclude=None, bias=None, fn=select_top):
    """What top_n returned when it was select_top behind a Python front (the reference)."""
    s = np.array(row, dtype=np.float32, copy=True)
    b = np.zeros(len(s), np.float32) if bias is None else np.asarray(bias, np.float32)
    n_cand = len(s)
    if exclude is not None and len(exclude):
        ex = np.unique(np.asarray(exclude, dtype=np.int64))
        s[ex] = -np.inf
        n_cand -= len(ex)
    n = max(0, min(int(n), n_cand))
    hv, hi = np.empty(n, np.float32), np.empty(n, np.int64)
    fn(s, b, n, hv, hi)
    keep = hi < len(s)
    return hi[keep], hv[keep]


def same(a, b) -> bool:
    """Equal indices, and scores equal bit for bit (so -0.0 and +0.0 differ)."""
    return (a[0].dtype == b[0].dtype == np.int64 and a[1].dtype == b[1].dtype == np.float32
            and np.array_equal(a[0], b[0]) and a[1].tobytes() == b[1].tobytes())


def tie_heavy_row(rng, size):
    row = rng.integers(-3, 4, size).astype(np.float32)      # a handful of values: ties galore
    special = rng.choice(size, size=min(size, rng.integers(0, 6)), replace=False)
    row[special] = rng.choice(np.array([-np.inf, np.inf, np.nan, -0.0], np.float32),
                              len(special))
    return row


@pytest.mark.parametrize("seed", range(40))
def test_top_n_matches_select_top_and_its_twin_on_tie_heavy_rows(seed):
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 60))
    row = tie_heavy_row(rng, size)
    bias = None if seed % 3 == 0 else rng.integers(-1, 2, size).astype(np.float32)
    exclude = (None if seed % 4 == 0
               else rng.integers(0, size, rng.integers(0, size + 3)))  # repeats too
    for n in (1, 2, 5, size - 1, size, size + 7):
        got = top_n(row, n, exclude, bias)
        assert same(got, heap_top(row, n, exclude, bias)), (seed, n)
        assert same(got, heap_top(row, n, exclude, bias, fn=select_top.py_func)), (seed, n)


def test_top_n_orders_ties_by_index_and_never_returns_excluded():
    row = np.array([2, 5, 5, 1, 5, 5, 0], np.float32)
    idx, sc = top_n(row, 3, exclude=[1])
    assert idx.tolist() == [2, 4, 5] and sc.tolist() == [5, 5, 5]
    idx, _ = top_n(row, 100, exclude=[1, 1, 6])            # n clamped to the 5 candidates
    assert idx.tolist() == [2, 4, 5, 0, 3]
    idx, sc = top_n(np.array([-0.0, 0.0, -0.0], np.float32), 2)
    assert idx.tolist() == [0, 1] and sc.tobytes() == np.zeros(2, np.float32).tobytes()
    assert top_n(np.array([np.nan, -np.inf], np.float32), 2)[0].tolist() == []


def test_top_n_on_a_large_row_matches_the_heap():
    rng = np.random.default_rng(1)
    row = rng.integers(0, 50, 200_000).astype(np.float32)
    ex = rng.integers(0, len(row), 1000)
    assert same(top_n(row, 10, ex), heap_top(row, 10, ex))

"""The ranking-evaluation kernel and its batch driver: top-K per subject and hits at every k.

Scores are computed for a batch of subjects at a time, one column tile (about
:data:`TILE_BYTES`, so it stays in cache) after another, each with one BLAS matmul into the same
small buffer. :func:`rank_tile` marks the tile's excluded candidates -inf and offers its entries
to each subject's heap (:func:`mfcore.topk.heap_offer`: exact index tie-breaking, a vectorised
test of 64 entries at a time against the heap's worst); after the last tile :func:`finish_rows`
sorts each heap and counts, for every requested k at once, the hits in the top k, their DCG and
the hits in the top |R| — so a whole metric-vs-k curve costs one selection. Batches run in
parallel threads, one batch per thread with single-threaded BLAS (the kernels release the GIL).

Why tiles: the selection reads every score once, and a whole batch (256 MB) written by the
product had to come back from DRAM: on the MSD shape (384k songs, k=64, 2 threads) ranking
whole batches took about 0.22x the products' time with the scalar heap loop and with the
vectorised test alike (the read, not the comparisons, set the pace). A tile read straight
after its product is in cache, and the whole ranking then costs about the products alone. :func:`rank_rows` is the untiled kernel (whole score
rows in one go), kept as the reference the tiled path is tested against. A partition-based
selection (``np.argpartition``) was measured at ~0.3 s per 1000 × 20 000 rows single-threaded.
"""
from __future__ import annotations

import math
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import islice

import numpy as np
from numba import njit

from ..topk import heap_finish, heap_offer, heap_start, select_top

#: Bytes of one tile of scores: small enough to be still in cache when it is ranked (4000
#: users × 384k songs, batches of 174, 2 threads, shared machine: ranking with 2, 4 and 8 MiB
#: tiles took 0.96x, 0.99x and 1.02x the time of the untiled score products alone), large
#: enough that the per-tile calls stay few (a matmul and a kernel call per tile).
TILE_BYTES = 4 << 20


# numba caches these kernels with mfcore.topk's functions compiled into them and checks only
# this file's date: after editing mfcore/topk.py, delete
# mfcore/evaluate/__pycache__/rank_kernel*.nb* too.
@njit(nogil=True, cache=True)
def rank_rows(S, cand_bias, subj, excl_indptr, excl_indices, rel_indptr, rel_indices, rel_rank,
              ks, kk, mm, r0, r1, out_top, out_hits, out_dcg, out_hits_m):
    """Top-K selection and hit counting at every k for rows ``r0:r1`` of a score batch.

    Parameters
    ----------
    S : float32 (b, n)
        p·q scores without the candidate bias; excluded entries are overwritten with -inf.
    cand_bias : float32 (n,)
    subj : int64 (b,)
        Subject index of each row (into the CSR arrays).
    excl_indptr, excl_indices : CSR of candidates to exclude per subject.
    rel_indptr, rel_indices : CSR of relevant candidates per subject, sorted within a subject.
    rel_rank : int64, aligned with ``rel_indices``
        A relevant candidate counts at cut-off k only when its rank < k (0 everywhere for the
        held-out definition; the favourites order for the favourites definition).
    ks : int64 (nk,), increasing
    kk, mm : int64 (b, nk)
        Clamped k and clamped |R| per row and k (both <= the row's candidates).
    out_top : int32 (b, width)
        Top indices best first, -1 after the row's clamped largest k.
    out_hits, out_hits_m : int64 (b, nk)
        |R ∩ top-k| and |R ∩ top-|R||.
    out_dcg : float64 (b, nk)
        Σ 1/log2(j + 1) over the hits at ranks j = 1..k.
    """
    nk = ks.shape[0]
    kmax = 1
    for r in range(r0, r1):
        K = max(kk[r, nk - 1], mm[r, nk - 1])
        if K > kmax:
            kmax = K
    hv = np.empty(kmax, np.float32)
    hi = np.empty(kmax, np.int64)
    ninf = np.float32(-np.inf)
    for r in range(r0, r1):
        s = subj[r]
        row = S[r]
        for e in range(excl_indptr[s], excl_indptr[s + 1]):
            row[excl_indices[e]] = ninf
        K = max(kk[r, nk - 1], mm[r, nk - 1])
        select_top(row, cand_bias, K, hv, hi)
        _count_hits(hi, K, r, s, rel_indptr, rel_indices, rel_rank, ks, kk, mm, out_top, out_hits,
                    out_dcg, out_hits_m)


@njit(nogil=True, cache=True)
def _count_hits(hi, K, r, s, rel_indptr, rel_indices, rel_rank, ks, kk, mm, out_top, out_hits,
                out_dcg, out_hits_m):
    """Row ``r``'s outputs from its best-first top ``hi[:K]`` (subject ``s``)."""
    nk = ks.shape[0]
    a = rel_indptr[s]
    b = rel_indptr[s + 1]
    for t in range(nk):
        out_hits[r, t] = 0
        out_hits_m[r, t] = 0
        out_dcg[r, t] = 0.0
    k_top = kk[r, nk - 1]
    for j in range(K):
        c = hi[j]
        if j < k_top:
            out_top[r, j] = c
        # binary search c in rel_indices[a:b]
        lo = a
        up = b
        while lo < up:
            mid = (lo + up) >> 1
            if rel_indices[mid] < c:
                lo = mid + 1
            else:
                up = mid
        if lo < b and rel_indices[lo] == c:
            rank = rel_rank[lo]
            for t in range(nk):
                if rank < ks[t]:
                    if j < kk[r, t]:
                        out_hits[r, t] += 1
                        out_dcg[r, t] += 1.0 / math.log2(j + 2.0)
                    if j < mm[r, t]:
                        out_hits_m[r, t] += 1
    for j in range(k_top, out_top.shape[1]):
        out_top[r, j] = -1


@njit(nogil=True, cache=True)
def rank_tile(T, cand_bias, c0, n_cand, subj, excl_indptr, excl_indices, epos, Ks, HV, HI, r0,
              r1):
    """Offer candidates ``c0 : c0 + T.shape[1]`` (one column tile) to rows ``r0:r1``'s heaps.

    Parameters
    ----------
    T : float32 (b, w)
        p·q scores of the tile; excluded entries are overwritten with -inf.
    cand_bias : float32 (n_cand,)
    c0, n_cand : int
        The tile's first candidate and the number of candidates of a whole row.
    subj : int64 (b,)
        Subject of each row (into the CSR arrays).
    excl_indptr, excl_indices : CSR of candidates to exclude, sorted within a subject.
    epos : int64 (b,)
        Each row's next exclusion; set when ``c0 == 0`` (which also empties the heaps), advanced.
    Ks : int64 (b,)
        Heap size of each row.
    HV, HI : float32 / int64 (b, max K)
        Each row's heap (:func:`mfcore.topk.heap_offer`), kept from tile to tile.
    """
    w = T.shape[1]
    c1 = c0 + w
    bias = cand_bias[c0:c1]
    ninf = np.float32(-np.inf)
    for r in range(r0, r1):
        s = subj[r]
        if c0 == 0:
            heap_start(HV[r], HI[r], n_cand, Ks[r])
            epos[r] = excl_indptr[s]
        row = T[r]
        e = epos[r]
        end = excl_indptr[s + 1]
        while e < end and excl_indices[e] < c1:
            row[excl_indices[e] - c0] = ninf
            e += 1
        epos[r] = e
        heap_offer(row, bias, c0, Ks[r], HV[r], HI[r])


@njit(nogil=True, cache=True)
def finish_rows(HV, HI, Ks, subj, rel_indptr, rel_indices, rel_rank, ks, kk, mm, r0, r1,
                out_top, out_hits, out_dcg, out_hits_m):
    """After the last tile: sort rows ``r0:r1``'s heaps best first and count their hits.

    The outputs are :func:`rank_rows`'s, for the same rows.
    """
    for r in range(r0, r1):
        heap_finish(HV[r], HI[r], Ks[r])
        _count_hits(HI[r], Ks[r], r, subj[r], rel_indptr, rel_indices, rel_rank, ks, kk, mm,
                    out_top, out_hits, out_dcg, out_hits_m)


@njit(nogil=True, cache=True)
def excl_sorted(excl_indptr, excl_indices, chosen):
    """Whether the exclusions of every ``chosen`` subject are in increasing order."""
    for s in chosen:
        for e in range(excl_indptr[s] + 1, excl_indptr[s + 1]):
            if excl_indices[e] <= excl_indices[e - 1]:
                return False
    return True


@dataclass
class Tops:
    """What :func:`rank_batches` returns: per chosen subject, rows up to ``done``."""

    top: np.ndarray      # int32 (n, width)
    hits: np.ndarray     # int64 (n, nk)
    dcg: np.ndarray      # float64 (n, nk)
    hits_m: np.ndarray   # int64 (n, nk)
    done: int
    cancelled: bool


def rank_batches(A, B, cand_bias, chosen, excl, rel, ks, kk, mm, width: int, batch: int,
                 threads: int, progress=None, cancel=None, label: str = "",
                 tile_bytes: int = TILE_BYTES) -> Tops:
    """Score ``chosen`` subjects batch by batch (A[chosen] @ Bᵀ), tile by tile, and rank them.

    ``excl`` is (indptr, indices), ``rel`` is (indptr, indices, rank). Up to ``threads`` batches
    run at once, one per thread, each with single-threaded BLAS (see :func:`one_blas_thread`).
    ``cancel`` is checked and ``progress(fraction, message)`` called, in the calling thread,
    after each batch in order; batches still running when ``cancel`` is seen are not counted.
    A tile is a batch's rows × as many candidates as fit in ``tile_bytes`` (a multiple of 64,
    at least 64): each thread holds one tile of scores at a time.
    """
    n = len(chosen)
    nk = len(ks)
    out = Tops(np.full((n, width), -1, dtype=np.int32), np.zeros((n, nk), np.int64),
               np.zeros((n, nk), np.float64), np.zeros((n, nk), np.int64), 0, False)
    if n == 0:
        return out
    excl_indptr, excl_indices = excl
    if not excl_sorted(excl_indptr, excl_indices, chosen):
        # rank_tile walks each subject's exclusions in order alongside the tiles.
        excl_indices = _sorted_within(excl_indptr, excl_indices)
    Ks = np.maximum(kk[:, -1], mm[:, -1])
    w = min(B.shape[0], max(64, tile_bytes // (4 * batch) // 64 * 64))
    Bt = B.T

    def one_batch(start: int) -> int:
        stop = min(start + batch, n)
        nb = stop - start
        buf = np.empty(nb * w, dtype=np.float32)
        Ab, subj, Kb = A[chosen[start:stop]], chosen[start:stop], Ks[start:stop]
        HV = np.empty((nb, max(1, int(Kb.max()))), np.float32)
        HI = np.empty(HV.shape, np.int64)
        epos = np.empty(nb, np.int64)
        for c0 in range(0, B.shape[0], w):
            T = buf[:nb * min(w, B.shape[0] - c0)].reshape(nb, -1)
            np.matmul(Ab, Bt[:, c0:c0 + T.shape[1]], out=T)
            rank_tile(T, cand_bias, c0, B.shape[0], subj, excl_indptr, excl_indices, epos, Kb,
                      HV, HI, 0, nb)
        finish_rows(HV, HI, Kb, subj, *rel, ks, kk[start:stop], mm[start:stop], 0, nb,
                    out.top[start:stop], out.hits[start:stop], out.dcg[start:stop],
                    out.hits_m[start:stop])
        return stop

    starts = iter(range(0, n, batch))
    with one_blas_thread(), ThreadPoolExecutor(threads) as pool:
        running = deque(pool.submit(one_batch, s) for s in islice(starts, threads))
        while running:
            stop = running.popleft().result()
            if out.cancelled:
                continue
            out.done = stop
            if progress is not None:
                progress(stop / n, f"ranked {stop}/{n} {label}")
            if stop < n and cancel is not None and cancel.is_set():
                out.cancelled = True
                continue
            running.extend(pool.submit(one_batch, s) for s in islice(starts, 1))
    return out


_blas_lock = threading.Lock()
_blas_users = 0
_blas_limiter = None


@contextmanager
def one_blas_thread():
    """BLAS limited to one thread (process-wide) while any ranking runs, then restored.

    Why: each thread ranks its own batch; multi-threaded BLAS would instead make every tile's
    product a rendezvous of its threads, and on 2 cores shared with other work those many
    small products waited on each other: 2.3x the untiled products' time, where
    single-threaded products in parallel batches took 0.9x (4000 users × 384k songs). Nested and concurrent
    rankings share one limit, lifted when the last one ends. Without threadpoolctl nothing is
    limited (the results are the same, only slower).
    """
    global _blas_users, _blas_limiter
    with _blas_lock:
        if _blas_users == 0:
            try:
                from threadpoolctl import threadpool_limits
                _blas_limiter = threadpool_limits(limits=1, user_api="blas")
            except ImportError:  # pragma: no cover - threadpoolctl is a requirement
                _blas_limiter = None
        _blas_users += 1
    try:
        yield
    finally:
        with _blas_lock:
            _blas_users -= 1
            if _blas_users == 0 and _blas_limiter is not None:
                _blas_limiter.restore_original_limits()
                _blas_limiter = None


def _sorted_within(indptr, indices):
    """``indices`` sorted within each CSR row (a copy)."""
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    return np.ascontiguousarray(indices[np.lexsort((indices, rows))])

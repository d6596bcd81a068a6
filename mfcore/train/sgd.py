"""The SGD solver: one training call's working state and its per-epoch machinery.

:class:`SGDRun` is what :class:`mfcore.train.MFModel` drives for ``solver='sgd'``, through the
run protocol every solver follows (see :mod:`mfcore.train.model`): ``epoch(epoch, progress)``,
``measure(epoch, seconds)``, ``close()`` and ``threads``.

Parallel mode (``threads >= 2``) splits users and items into ``T`` balanced blocks each and runs
the ``T`` blocks of one "diagonal" of the user×item grid at once, one thread each (stratified SGD,
Gemulla et al. 2011). Threads never touch the same user or item row, so the result depends on
the seed alone, as in single-thread mode, and hot rows are never fought over.
"""
from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..interactions import Interactions
from ..rowindex import index_offsets
from ..rowgroup import grouped
from ..model import EpochStats
from . import kernels

# Below this many training rows, one thread beats the cost of starting the others.
AUTO_PARALLEL_MIN_ROWS = 20_000
# Work per kernel call: sized so a call lasts tens of milliseconds, which bounds cancel latency.
_CHUNK_WORK = 60_000_000


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0] & 0x7FFFFFFF)


class SGDRun:
    """The per-call state of ``fit_partial`` for SGD: working rows, blocks, thread pool.

    The training rows are copied once, grouped by stratum (block of users × block of items);
    each epoch shuffles the rows of each stratum in place and runs SGD over them sequentially.

    Parameters
    ----------
    model : MFModel
        Initialised (factors drawn, ``params`` resolved); its arrays are updated in place.
    train, val : Interactions
    cancel : threading.Event, optional
    """

    def __init__(self, model, train: Interactions, val: Interactions | None,
                 cancel: threading.Event | None) -> None:
        kernels.warm_up()  # so the first epoch's timing is the epoch's, not the JIT cache load
        p = model.params
        self.model, self.train, self.val = model, train, val
        self.cancel = cancel or threading.Event()
        self.mu = np.float32(model.global_mean_)
        self.lr, self.reg = np.float32(p["lr"]), np.float32(p["reg"])
        self.lr_bias = self.lr if p["biased"] else np.float32(0.0)
        self.neg_ratio = p["neg_ratio"]
        self.seed = int(p["seed"])
        threads = p["threads"] or (min(os.cpu_count() or 1, 8)
                                   if len(train) >= AUTO_PARALLEL_MIN_ROWS else 1)
        self.threads = T = max(1, min(threads, train.n_users, train.n_items))
        work_per_row = (p["factors"] + 4) * (1 + self.neg_ratio)
        self.chunk = max(1000, int(_CHUNK_WORK / work_per_row))
        self.counts = (train.user_counts().astype(np.float64),
                       train.item_counts().astype(np.float64))
        if T == 1:
            order = None
            self.bounds = [(0, len(train))]
            iblock = np.zeros(train.n_items, np.int32)
        else:
            ublock = balanced_blocks(self.counts[0], T)
            iblock = balanced_blocks(self.counts[1], T)
            stratum = ublock[train.users]  # int32: T * T strata, a few dozen at most
            stratum *= T
            stratum += iblock[train.items]
            edges = index_offsets(stratum, T * T)
            self.bounds = [(int(edges[s]), int(edges[s + 1])) for s in range(T * T)]
            self.executor = ThreadPoolExecutor(T, thread_name_prefix="mfcore-sgd")
            # The working copy grouped by stratum straight from the rows (a counting sort):
            # no int64 keys and order beside it (48M rows: 1 GiB for a moment).
            order = (stratum, edges)
        if order is None:
            self.users, self.items, self.values = (train.users.copy(), train.items.copy(),
                                                   train.values.copy())
        else:
            self.users, self.items, self.values = grouped(*order, train.users, train.items,
                                                          train.values)
        del order
        self.pools = []
        for s, (lo, hi) in enumerate(self.bounds):
            if p["neg_sampling"] == "popularity" and hi > lo:
                self.pools.append(self.items[lo:hi].copy())
            else:
                in_block = np.flatnonzero(iblock == s % T).astype(np.int32)
                self.pools.append(in_block if len(in_block) else np.zeros(1, np.int32))

    def close(self) -> None:
        if self.threads > 1:
            self.executor.shutdown(wait=True)

    def _stratum(self, s: int, epoch: int) -> str | int:
        """Shuffle stratum ``s`` and run SGD over it chunk by chunk."""
        m = self.model
        lo, hi = self.bounds[s]
        u, i, v = self.users[lo:hi], self.items[lo:hi], self.values[lo:hi]
        kernels.shuffle_rows(u, i, v, _seed(self.seed, epoch, s))
        params = (m.user_factors_, m.item_factors_, m.user_bias_, m.item_bias_, self.mu,
                  self.lr, self.reg, self.lr_bias)
        for n, start in enumerate(range(0, hi - lo, self.chunk)):
            if self.cancel.is_set():
                return "cancelled"
            end = min(start + self.chunk, hi - lo)
            if self.neg_ratio > 0:
                row = kernels.sgd_chunk_negative(u, i, v, start, end, *params, self.neg_ratio,
                                                 self.pools[s], _seed(self.seed, epoch, s, n))
            else:
                row = kernels.sgd_chunk(u, i, v, start, end, *params)
            if row != kernels.OK:
                return lo + int(row)
        return "ok"

    def epoch(self, epoch: int, progress) -> str | int:
        """One epoch; returns 'ok', 'cancelled', or the position of a diverging step."""
        if self.threads == 1:
            return self._stratum(0, epoch)
        T = self.threads
        diagonals = np.random.default_rng(_seed(self.seed, epoch)).permutation(T)
        for n, d in enumerate(diagonals):
            strata = [b * T + (b + d) % T for b in range(T)]
            outcomes = list(self.executor.map(lambda s: self._stratum(s, epoch), strata))
            for o in outcomes:
                if o != "ok":
                    return o
            if progress is not None:
                progress((n + 1) / T)
        return "ok"

    def _errors(self, data: Interactions) -> tuple[float, float] | None:
        """Sums of squared and absolute errors over ``data``; None if cancelled meanwhile."""
        m = self.model
        step = 4 * self.chunk
        spans = [(s, min(s + step, len(data))) for s in range(0, len(data), step)]

        def call(span):
            if self.cancel.is_set():
                return None
            return kernels.error_sums(data.users, data.items, data.values, span[0], span[1],
                                      m.user_factors_, m.item_factors_, m.user_bias_,
                                      m.item_bias_, self.mu)

        parts = list(self.executor.map(call, spans) if self.threads > 1 else map(call, spans))
        if any(p is None for p in parts):
            return None
        return sum(p[0] for p in parts), sum(p[1] for p in parts)

    def measure(self, epoch: int, sgd_seconds: float) -> EpochStats | None:
        """The epoch's loss and RMSEs, computed exactly after it; None if cancelled."""
        m = self.model
        t0 = time.perf_counter()
        sums = self._errors(self.train)
        if sums is None:
            return None
        sse = sums[0]
        cu, ci = self.counts
        penalty = (cu @ np.einsum("ij,ij->i", m.user_factors_, m.user_factors_, dtype=np.float64)
                   + ci @ np.einsum("ij,ij->i", m.item_factors_, m.item_factors_, dtype=np.float64)
                   + cu @ np.square(m.user_bias_, dtype=np.float64)
                   + ci @ np.square(m.item_bias_, dtype=np.float64))
        loss = sse + float(m.params["reg"]) * float(penalty)
        train_rmse = math.sqrt(sse / len(self.train))
        val_rmse = math.nan
        if self.val is not None and len(self.val):
            vsums = self._errors(self.val)
            if vsums is None:
                return None
            val_rmse = math.sqrt(vsums[0] / len(self.val))
        seconds = sgd_seconds + (time.perf_counter() - t0)
        rate = len(self.train) * (1 + self.neg_ratio) / max(sgd_seconds, 1e-9)
        return EpochStats(epoch, float(loss), train_rmse, val_rmse, seconds, rate,
                          train_mae=sums[1] / len(self.train))


def balanced_blocks(counts: np.ndarray, T: int) -> np.ndarray:
    """Split rows into T runs of consecutive indices holding about equal numbers of interactions.

    Consecutive, not interleaved: threads then write to separate stretches of the factor and
    bias arrays. Interleaved blocks put neighbouring biases of two threads in one cache line,
    and that false sharing made two threads slower than one.
    """
    counts = np.asarray(counts, dtype=np.float64)
    total = counts.sum()
    if total <= 0:
        return (np.arange(len(counts)) * T // max(len(counts), 1)).astype(np.int32)
    middle = np.cumsum(counts) - counts / 2  # interactions before each row's midpoint
    return np.minimum((middle * T / total).astype(np.int64), T - 1).astype(np.int32)

"""Implicit ALS (solver ``als``): the driver around :mod:`mfcore.train.als_kernels`.

:class:`ALSRun` follows the protocol of the SGD trainer's per-run state, so the same epoch loop
(snapshot, cancel, divergence, callback) drives both solvers: ``epoch`` runs one full iteration
(every user solved with the items fixed, then every item with the users fixed), ``measure``
reports the objective of ``shared/guides/definitions.md`` ("Implicit ALS").

Rows are independent within a half-step, so a half-step is cut into runs of consecutive rows of
about equal work and the runs go to a pool of Python threads calling the ``nogil`` kernels. Each
row's result depends only on its own data and the fixed side, never on which thread solved it or
when: results are the same bit for bit for any number of threads.
"""
from __future__ import annotations

import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..errors import ConfigError, DataError
from ..interactions import Interactions
from ..model import EpochStats
from ..rowgroup import grouped_order
from ..rowindex import index_offsets
from ..values import map_float32
from . import als_kernels

#: How rows are solved: warm-started conjugate gradient, or exactly (Cholesky).
SOLVES = ("cg", "cholesky")
#: g in the confidence c = 1 + α·g(value).
CONFIDENCES = ("linear", "log1p")
# Below this many observed pairs, one thread beats the cost of starting the others.
AUTO_PARALLEL_MIN_PAIRS = 20_000
# Multiply-adds per kernel call: 5-20 ms of work, which bounds the cancel latency.
_CHUNK_WORK = 100_000_000
# Rows per block of a Gram matrix FᵀF: about 10 ms at k = 128.
_GRAM_ROWS = 16_384
# Initial factors are uniform in [0, INIT_SCALE / sqrt(k)); see init_factors.
INIT_SCALE = 0.1


def confidence_weights(values: np.ndarray, alpha: float, kind: str = "linear"
                       ) -> tuple[np.ndarray, float, float]:
    """The kernels' confidences of rows with these values: ``(g, α, 1)``, c = 1 + α·g(r) as
    float32 (:mod:`~mfcore.train.als_kernels`), g the identity (``'linear'``: the values
    themselves, no copy) or ``log1p``.

    Raises
    ------
    DataError
        A value below 0 (confidence would fall below 1) or a confidence that is not finite.
    """
    values = np.asarray(values, dtype=np.float32)
    if len(values) and not values.min() >= 0:  # also catches NaN
        bad = int(np.flatnonzero(~(values >= 0))[0])
        raise DataError(f"implicit ALS needs values >= 0 (play counts, ones); value {bad} is "
                        f"{values[bad]}")
    g = map_float32(np.log1p, values) if kind == "log1p" else values
    with np.errstate(over="ignore"):  # reported below, with the value
        top = np.float32(1.0 + alpha * np.float64(g.max())) if len(g) else np.float32(1.0)
    if not np.isfinite(top):
        bad = int(np.argmax(g))
        raise DataError(f"confidence 1 + α·g(r) overflows float32 at value {bad} "
                        f"({values[bad]}); lower alpha or use confidence='log1p'")
    return g, float(alpha), 1.0


def confidence(values: np.ndarray, alpha: float, kind: str = "linear") -> np.ndarray:
    """c = 1 + α·g(r) as a float32 array (what :func:`confidence_weights` stands for).

    Raises
    ------
    DataError
        As :func:`confidence_weights`.
    """
    g, a, base = confidence_weights(values, alpha, kind)
    return map_float32(lambda x: base + a * x.astype(np.float64), g)


def init_factors(n: int, k: int, seed) -> np.ndarray:
    """Initial ALS factors: float32 uniform in [0, 0.1/√k), seeded by ``seed``.

    Small and positive, as ``implicit`` starts (uniform [0, 0.01)), so both libraries can be
    run from the same start and compared. The SGD start N(0, 0.1²) is not needed: on the MPD
    sample (k = 128, λ = 0.1, α = 9, 15 CG iterations) this start, implicit's and N(0, 0.01²)
    all end at P@10 0.131-0.132. The 1/√k keeps the first scores x·y near 0.0025 whatever k.
    ``seed`` is anything :func:`numpy.random.default_rng` takes; give users and items different
    ones (e.g. ``[seed, 0]`` and ``[seed, 1]``).
    """
    rng = np.random.default_rng(seed)
    out = rng.random((n, k), dtype=np.float32)
    out *= np.float32(INIT_SCALE / math.sqrt(k))
    return out


class ALSRun:
    """Per-run state of implicit ALS: CSR rows with their confidences, work chunks, threads.

    Parameters
    ----------
    model : object
        Has ``user_factors_``, ``item_factors_`` (float32, C-contiguous, already initialised)
        and ``params`` (``factors, reg, alpha, confidence, cg_steps, solve, threads, seed``).
        The factors are updated in place.
    train : Interactions
        Training pairs; values are play counts or ones (confidence from ``params``).
    val : Interactions, optional
        Accepted for the epoch loop's protocol; ALS reports no validation RMSE.
    cancel : threading.Event, optional
        Seen between kernel calls (tens of milliseconds apart).

    Attributes
    ----------
    threads : int
        The number of threads used.

    Notes
    -----
    The Gram matrix of each side is kept from the half-step (or ``measure``) that computed it
    until that side changes here, so an iteration followed by ``measure`` computes two, not
    four. Change the factors only through this object; restoring a snapshot ends the run.
    """

    def __init__(self, model, train: Interactions, val: Interactions | None = None,
                 cancel: threading.Event | None = None) -> None:
        p = model.params  # checked by MFModel
        if not isinstance(train, Interactions):
            raise DataError("train data must be an Interactions object")
        if len(train) == 0:
            raise DataError("the training set is empty")
        k = int(p["factors"])
        for name, n in (("user_factors_", train.n_users), ("item_factors_", train.n_items)):
            F = getattr(model, name, None)
            if (not isinstance(F, np.ndarray) or F.dtype != np.float32 or F.shape != (n, k)
                    or not F.flags.c_contiguous):
                raise ConfigError(f"{name} must be a C-contiguous float32 array of shape "
                                  f"({n}, {k}), got {_describe(F)}")
        als_kernels.warm_up()  # so the first epoch's timing is the epoch's, not the cache load
        self.model, self.train, self.val = model, train, val
        self.cancel = cancel or threading.Event()
        self.reg, self.cg_steps, self.solve = float(p["reg"]), int(p["cg_steps"]), p["solve"]
        # The confidences as the values and α: the kernels compute each one as they go, so no
        # array of them is held. Both sides read the rows grouped by user (the training rows
        # themselves, which are sorted by user); the item side through their order by item,
        # 4 bytes a row instead of a copy of the users and values regrouped by item (8).
        user_ptr, items, values = train.csr("user")
        users = train.users if values is train.values else np.repeat(  # rows regrouped
            np.arange(train.n_users, dtype=np.int32), np.diff(user_ptr))
        conf = confidence_weights(values, float(p["alpha"]), p["confidence"])
        item_ptr = index_offsets(items, train.n_items)
        by_item = grouped_order(items, item_ptr)
        self.sides = [(user_ptr, items, conf, None, self._chunks(user_ptr, k)),
                      (item_ptr, users, conf, by_item, self._chunks(item_ptr, k))]
        threads = p["threads"] or (min(os.cpu_count() or 1, 8)
                                   if len(train) >= AUTO_PARALLEL_MIN_PAIRS else 1)
        self.threads = max(1, int(threads))
        self.executor = (ThreadPoolExecutor(self.threads, thread_name_prefix="mfcore-als")
                         if self.threads > 1 else None)
        self._grams: dict[str, np.ndarray] = {}  # side -> gram of its factors, while unchanged

    def close(self) -> None:
        if self.executor is not None:
            self.executor.shutdown(wait=True)

    def _chunks(self, indptr: np.ndarray, k: int) -> list[tuple[int, int]]:
        """Runs of consecutive rows of about ``_CHUNK_WORK`` multiply-adds each.

        Chunks depend on the data and k only (never on the threads), so the objective's partial
        sums add up in the same order for any number of threads.
        """
        nnz = np.diff(indptr).astype(np.float64)
        if self.solve == "cg":
            work = (self.cg_steps + 1) * (k * k + 4.0 * k * nnz)
        else:
            work = nnz * k * (k + 3) / 2 + k ** 3 / 3.0
        ends = np.cumsum(work)
        cuts = np.searchsorted(ends, np.arange(1, math.ceil(ends[-1] / _CHUNK_WORK))
                               * _CHUNK_WORK, side="right") if len(ends) else []
        edges = np.unique(np.concatenate([[0], cuts, [len(nnz)]]).astype(np.int64))
        return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]

    def _map(self, call, chunks, progress=None, base: float = 0.0, span: float = 1.0) -> list:
        """``call(chunk)`` for every chunk, in threads; results in chunk order."""
        results = []
        it = (self.executor.map(call, chunks) if self.executor is not None
              else map(call, chunks))
        step = max(1, len(chunks) // 20)
        for n, res in enumerate(it, 1):
            results.append(res)
            if progress is not None and (n % step == 0 or n == len(chunks)):
                progress(base + span * n / len(chunks))
        return results

    def _gram(self, side: str, F: np.ndarray) -> np.ndarray | None:
        """FᵀF of one side, kept until that side changes; None if cancelled meanwhile.

        Fixed blocks of rows in the threads, their sums added in block order: the result does
        not depend on the number of threads.
        """
        if side not in self._grams:
            blocks = [(a, min(a + _GRAM_ROWS, len(F))) for a in range(0, len(F), _GRAM_ROWS)]

            def call(block):
                if self.cancel.is_set():
                    return None
                return als_kernels.gram_rows(F, block[0], block[1])

            parts = self._map(call, blocks)
            if any(part is None for part in parts):
                return None
            total = parts[0]
            for part in parts[1:]:
                total += part
            self._grams[side] = total
        return self._grams[side]

    def _half(self, s: int, X: np.ndarray, Y: np.ndarray, G: np.ndarray, progress) -> str | int:
        """Solve every row of side ``s`` (0 users, 1 items); 'ok', 'cancelled' or a bad row."""
        indptr, indices, conf, order, chunks = self.sides[s]
        stop = threading.Event()  # a diverged row: skip the chunks not started yet
        if self.solve == "cg":
            G32, reg = G.astype(np.float32), np.float32(self.reg)

            def call(chunk):
                if self.cancel.is_set() or stop.is_set():
                    return "stopped"
                return als_kernels.cg_rows(indptr, indices, conf, X, Y, G32, reg,
                                           self.cg_steps, chunk[0], chunk[1], order)
        else:
            def call(chunk):
                if self.cancel.is_set() or stop.is_set():
                    return "stopped"
                return als_kernels.cholesky_rows(indptr, indices, conf, X, Y, G, self.reg,
                                                 chunk[0], chunk[1], order)

        def checked(chunk):
            res = call(chunk)
            if res != als_kernels.OK and res != "stopped":
                stop.set()
            return res

        results = self._map(checked, chunks, progress, base=0.5 * s, span=0.5)
        bad = [int(r) for r in results if r != als_kernels.OK and r != "stopped"]
        if bad:
            return bad[0]
        return "cancelled" if "stopped" in results else "ok"

    def epoch(self, epoch: int, progress=None) -> str | int:
        """One iteration: users with items fixed, then items with users fixed.

        Returns 'ok', 'cancelled', or the first row that came out NaN/inf, counted users first
        (a user's index, or ``n_users`` + an item's index). After anything but 'ok' the factors
        are partly updated: the caller restores its snapshot.
        """
        m = self.model
        X, Y = m.user_factors_, m.item_factors_
        for s, (side, other, F, G) in enumerate((("user", "item", X, Y),
                                                 ("item", "user", Y, X))):
            if self.cancel.is_set():
                self._grams.clear()
                return "cancelled"
            gram = self._gram(other, G)
            self._grams.pop(side, None)  # F is about to change
            outcome = "cancelled" if gram is None else self._half(s, F, G, gram, progress)
            if outcome != "ok":
                self._grams.clear()
                return outcome if outcome == "cancelled" else int(outcome) + s * len(X)
        return "ok"

    def measure(self, epoch: int, seconds: float):
        """The objective after the iteration as an ``EpochStats``; None if cancelled meanwhile.

        ``loss`` is Σ_all c (p − x·y)² + λ(‖X‖² + ‖Y‖²), computed as the observed pairs' terms
        plus trace(XᵀX·YᵀY) for all pairs; the RMSEs are NaN; ``ratings_per_s`` is observed
        pairs per second of the iteration (``seconds``).
        """

        m = self.model
        t0 = time.perf_counter()
        X, Y = m.user_factors_, m.item_factors_
        gx, gy = self._gram("user", X), self._gram("item", Y)
        if gx is None or gy is None:
            self._grams.clear()
            return None
        indptr, indices, conf, _, chunks = self.sides[0]

        def call(chunk):
            if self.cancel.is_set():
                return None
            return als_kernels.observed_loss(indptr, indices, conf, X, Y, chunk[0], chunk[1])

        parts = self._map(call, chunks)
        if any(part is None for part in parts):
            self._grams.clear()  # the caller restores its snapshot next
            return None
        observed = math.fsum(part[0] for part in parts)
        loss = observed + float(np.sum(gx * gy)) + self.reg * float(np.trace(gx) + np.trace(gy))
        total = seconds + (time.perf_counter() - t0)
        return EpochStats(epoch, float(loss), math.nan, math.nan, total,
                          len(self.train) / max(seconds, 1e-9))


def _describe(F) -> str:
    if not isinstance(F, np.ndarray):
        return type(F).__name__
    order = "" if F.flags.c_contiguous else ", not C-contiguous"
    return f"{F.dtype} {F.shape}{order}"

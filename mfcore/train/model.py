"""Biased (and unbiased) matrix factorization trained by SGD with numba kernels.

:class:`MFModel` follows scikit-learn conventions: keyword-only hyperparameters, ``fit`` resets
and trains, ``fit_partial`` continues, fitted attributes end in ``_``. Training reports after every
epoch through ``callback``, stops within a fraction of a second when ``cancel`` (a
``threading.Event``) is set, and never leaves NaN factors behind: a step that produces NaN/inf
ends the run as ``diverged`` and the factors of the last finished epoch are restored.

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
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from ..errors import ConfigError, DataError, ResourceError
from ..interactions import Interactions
from . import kernels

STATUSES = ("new", "fitted", "cancelled", "diverged", "early_stopped")
# Below this many training rows, one thread beats the cost of starting the others.
AUTO_PARALLEL_MIN_ROWS = 20_000
# Work per kernel call: sized so a call lasts tens of milliseconds, which bounds cancel latency.
_CHUNK_WORK = 60_000_000
#: What the hyperparameters left as ``None`` become, by the kind of training data.
#: The implicit values were tuned on the MPD sample (benchmarks/bench_quality.py): with the
#: explicit ones (biased, γ 0.005, λ 0.02) implicit data ranks no better than popularity, since
#: b_i learns popularity faster than the factors learn anything and rare items (most of a
#: playlist catalogue) barely move from their random start; ρ = 0 cannot rank at all.
EXPLICIT_DEFAULTS: dict = dict(lr=0.005, reg=0.02, biased=True, neg_ratio=0.0,
                               neg_sampling="uniform")
IMPLICIT_DEFAULTS: dict = dict(lr=0.03, reg=0.01, biased=False, neg_ratio=10.0,
                               neg_sampling="uniform")


@dataclass(frozen=True)
class EpochStats:
    """What one finished epoch reports.

    ``loss`` is Σ e² + λ(‖p_u‖² + ‖q_i‖² + b_u² + b_i²) over the training rows after the epoch;
    ``train_rmse``/``val_rmse`` are sqrt(mean e²) (``val_rmse`` is NaN without validation data).
    """

    epoch: int
    loss: float
    train_rmse: float
    val_rmse: float
    seconds: float
    ratings_per_s: float

    def to_dict(self) -> dict:
        return asdict(self)


class MFModel:
    """Matrix factorization r̂(u,i) = μ + b_u + b_i + p_u·q_i, trained by SGD.

    Parameters
    ----------
    factors : int
        Latent size k.
    epochs : int
        Epochs run by :meth:`fit` (and by :meth:`fit_partial` when it is given none).
    lr : float, optional
        Learning rate γ.
    reg : float, optional
        Regularisation λ, on factors and biases alike.
    init_std : float
        Factors start as N(0, init_std²); biases start at 0.
    biased : bool, optional
        Use μ, b_u, b_i. False gives the unbiased variant r̂ = p_u·q_i.
    neg_ratio : float, optional
        Unobserved items sampled per observed row each epoch, with target 0 (ρ = 0 is the
        playlist notebook's objective, which cannot rank).
    neg_sampling : {'uniform', 'popularity'}, optional
        How negatives are drawn.

    ``lr``, ``reg``, ``biased``, ``neg_ratio`` and ``neg_sampling`` left as ``None`` are chosen
    by the kind of data at fit time, from :data:`EXPLICIT_DEFAULTS` (γ 0.005, λ 0.02, biased,
    ρ 0: Surprise's SVD) or :data:`IMPLICIT_DEFAULTS` (γ 0.03, λ 0.01, unbiased, ρ 10 uniform);
    a value given is always used as given. After ``fit``, ``params`` holds the values used.
    seed : int
        Seeds initialisation, the shuffles and the negative sampler.
    threads : int
        1: one thread. T >= 2: stratified parallel SGD in T threads. 0: T = number of cores when
        the training set is large enough to gain from it, else 1.
    early_stopping : bool
        Stop when validation RMSE has not improved for ``patience`` epochs, restoring the best.
    patience : int
        See ``early_stopping``.
    """

    def __init__(self, *, factors: int = 100, epochs: int = 20, lr: float | None = None,
                 reg: float | None = None, init_std: float = 0.1, biased: bool | None = None,
                 neg_ratio: float | None = None, neg_sampling: str | None = None, seed: int = 0,
                 threads: int = 1, early_stopping: bool = False, patience: int = 3) -> None:
        self.params = dict(factors=factors, epochs=epochs, lr=lr, reg=reg, init_std=init_std,
                           biased=biased, neg_ratio=neg_ratio, neg_sampling=neg_sampling,
                           seed=seed, threads=threads, early_stopping=early_stopping,
                           patience=patience)
        _validate_params(self.params)
        self._requested = dict(self.params)
        self.status_ = "new"
        self.history_: list[EpochStats] = []
        self.diverged_at_: tuple[int, int] | None = None
        self.best_epoch_: int | None = None
        self.user_factors_ = self.item_factors_ = None
        self.user_bias_ = self.item_bias_ = None
        self.global_mean_ = 0.0
        self.data_fingerprint_: str | None = None
        self.threads_used_: int | None = None

    def __getattr__(self, name):
        # Hyperparameters read as attributes (model.factors) without duplicating state.
        params = self.__dict__.get("params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(name)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"MFModel({args})"

    # ---- shapes -------------------------------------------------------------------------
    @property
    def n_users_(self) -> int:
        return 0 if self.user_factors_ is None else self.user_factors_.shape[0]

    @property
    def n_items_(self) -> int:
        return 0 if self.item_factors_ is None else self.item_factors_.shape[0]

    @property
    def is_fitted(self) -> bool:
        return self.user_factors_ is not None

    # ---- training -----------------------------------------------------------------------
    def fit(self, train: Interactions, val: Interactions | None = None, *,
            callback: Callable[[EpochStats], None] | None = None,
            cancel: threading.Event | None = None,
            progress: Callable[[float], None] | None = None) -> "MFModel":
        """Initialise the parameters and train for ``epochs`` epochs.

        Parameters
        ----------
        train : Interactions
            Training rows.
        val : Interactions, optional
            Validation rows (same id maps) for ``val_rmse`` and early stopping.
        callback : callable, optional
            Called with an :class:`EpochStats` after every epoch.
        cancel : threading.Event, optional
            When set, training stops within a fraction of a second and keeps the last
            finished epoch (status ``'cancelled'``).
        progress : callable, optional
            Called with the fraction of the current epoch done, a few times per epoch.

        Returns
        -------
        MFModel
            ``self``.
        """
        self._init_params(train, cancel)
        return self.fit_partial(train, val, callback=callback, cancel=cancel, progress=progress)

    def fit_partial(self, train: Interactions, val: Interactions | None = None, *,
                    epochs: int | None = None,
                    callback: Callable[[EpochStats], None] | None = None,
                    cancel: threading.Event | None = None,
                    progress: Callable[[float], None] | None = None) -> "MFModel":
        """Continue training (initialising first if the model is not fitted).

        Takes the same arguments as :meth:`fit`, plus ``epochs`` (default: the ``epochs``
        hyperparameter). Epoch numbers continue from the existing history.
        """
        _check_data(train, "train")
        if val is not None:
            _check_data(val, "validation")
            if (val.n_users, val.n_items) != (train.n_users, train.n_items):
                raise DataError("validation data must share the training data's id maps")
        if not self.is_fitted:
            self._init_params(train, cancel)
        elif (train.n_users, train.n_items) != (self.n_users_, self.n_items_):
            raise DataError(f"this model was fitted on {self.n_users_} users × {self.n_items_} "
                            f"items; the data has {train.n_users} × {train.n_items}")
        n_epochs = self.params["epochs"] if epochs is None else int(epochs)
        if n_epochs < 0:
            raise ConfigError("epochs must be >= 0")
        if cancel is not None and cancel.is_set():  # e.g. while the factors were drawn
            self.status_ = "cancelled"
            return self
        run = _Run(self, train, val, cancel)
        self.threads_used_ = run.threads
        self.status_ = "fitted"
        self.diverged_at_ = None
        best = (math.inf, None, None)  # (val_rmse, epoch, snapshot)
        stale = 0
        snapshot = None
        try:
            for _ in range(n_epochs):
                epoch = len(self.history_) + 1
                # The state to return to if this epoch fails; an early-stopping snapshot taken
                # at the end of the last epoch is that state already (restoring never writes it).
                if snapshot is None:
                    snapshot = self._snapshot()
                t0 = time.perf_counter()
                outcome = run.epoch(epoch, progress)
                sgd_seconds = time.perf_counter() - t0
                if outcome != "ok":
                    self._restore(snapshot)
                    if outcome == "cancelled":
                        self.status_ = "cancelled"
                    else:
                        self.status_ = "diverged"
                        self.diverged_at_ = (epoch, int(outcome))
                    break
                stats = run.measure(epoch, sgd_seconds)
                if stats is None:  # cancelled while measuring: the epoch has no stats
                    self._restore(snapshot)
                    self.status_ = "cancelled"
                    break
                if not math.isfinite(stats.loss):
                    self._restore(snapshot)
                    self.status_ = "diverged"
                    self.diverged_at_ = (epoch, -1)
                    break
                self.history_.append(stats)
                snapshot = None
                if callback is not None:
                    callback(stats)
                if val is not None and len(val):
                    if stats.val_rmse < best[0]:
                        best, stale = (stats.val_rmse, epoch, None), 0
                        self.best_epoch_ = epoch
                        if self.params["early_stopping"]:
                            snapshot = self._snapshot()
                            best = (stats.val_rmse, epoch, snapshot)
                    else:
                        stale += 1
                    if self.params["early_stopping"] and stale >= self.params["patience"]:
                        self._restore(best[2])
                        self.status_ = "early_stopped"
                        break
                if cancel is not None and cancel.is_set():
                    self.status_ = "cancelled"
                    break
        finally:
            run.close()
        self.data_fingerprint_ = train.fingerprint
        return self

    def _init_params(self, train: Interactions, cancel: threading.Event | None = None) -> None:
        self.params = p = resolve_params(self._requested, train.implicit)
        rng = np.random.default_rng(p["seed"])
        k = p["factors"]
        self.user_factors_ = _normal_rows(rng, train.n_users, k, p["init_std"], cancel)
        self.item_factors_ = _normal_rows(rng, train.n_items, k, p["init_std"], cancel)
        self.user_bias_ = np.zeros(train.n_users, np.float32)
        self.item_bias_ = np.zeros(train.n_items, np.float32)
        self.global_mean_ = float(train.values.mean(dtype=np.float64)) if p["biased"] else 0.0
        self.history_ = []
        self.best_epoch_ = None
        self.status_ = "new"

    def _snapshot(self):
        return tuple(a.copy() for a in (self.user_factors_, self.item_factors_,
                                         self.user_bias_, self.item_bias_))

    def _restore(self, snap) -> None:
        for dst, src in zip((self.user_factors_, self.item_factors_, self.user_bias_,
                             self.item_bias_), snap):
            dst[...] = src

    # ---- prediction ---------------------------------------------------------------------
    def predict(self, users, items) -> np.ndarray:
        """Predicted values r̂ for dense (user, item) index pairs."""
        self._require_fitted()
        users = np.asarray(users, dtype=np.int64)
        items = np.asarray(items, dtype=np.int64)
        out = np.einsum("ij,ij->i", self.user_factors_[users], self.item_factors_[items])
        if self.params["biased"]:
            out += self.global_mean_ + self.user_bias_[users] + self.item_bias_[items]
        return out.astype(np.float32)

    def score_items(self, user: int) -> np.ndarray:
        """Ranking scores b_i + p_u·q_i of every item for one user (μ, b_u do not change order)."""
        self._require_fitted()
        return (self.item_factors_ @ self.user_factors_[user] + self.item_bias_).astype(np.float32)

    def _require_fitted(self) -> None:
        if not self.is_fitted:
            raise ConfigError("the model is not fitted yet")

    @classmethod
    def from_arrays(cls, params: dict, *, user_factors, item_factors, user_bias, item_bias,
                    global_mean: float, history=(), status: str = "fitted",
                    data_fingerprint: str | None = None) -> "MFModel":
        """Rebuild a fitted model (e.g. from :func:`mfcore.modelio.load_model`)."""
        known = {k: v for k, v in params.items() if k in cls().params}
        model = cls(**known)
        model.user_factors_ = np.ascontiguousarray(user_factors, dtype=np.float32)
        model.item_factors_ = np.ascontiguousarray(item_factors, dtype=np.float32)
        model.user_bias_ = np.ascontiguousarray(user_bias, dtype=np.float32)
        model.item_bias_ = np.ascontiguousarray(item_bias, dtype=np.float32)
        model.global_mean_ = float(global_mean)
        model.history_ = [h if isinstance(h, EpochStats) else EpochStats(**h) for h in history]
        model.status_ = status
        model.data_fingerprint_ = data_fingerprint
        return model


def _normal_rows(rng: np.random.Generator, n: int, k: int, std: float,
                 cancel: threading.Event | None) -> np.ndarray:
    """N(0, std²) float32 factors, drawn in blocks of rows so a cancel is seen between blocks
    (300k × 1024 factors take seconds to draw). A cancelled draw leaves the rest at zero; the
    epoch loop then stops before its first epoch."""
    out = np.zeros((n, k), np.float32)
    block = max(1, (1 << 22) // max(k, 1))
    for start in range(0, n, block):
        if cancel is not None and cancel.is_set():
            break
        part = out[start:start + block]
        rng.standard_normal(part.shape, dtype=np.float32, out=part)
        part *= np.float32(std)
    return out


def resolve_params(params: dict, implicit: bool) -> dict:
    """``params`` with every ``None`` replaced by the default for this kind of data."""
    defaults = IMPLICIT_DEFAULTS if implicit else EXPLICIT_DEFAULTS
    out = {k: (defaults[k] if v is None and k in defaults else v) for k, v in params.items()}
    out["neg_ratio"] = float(out["neg_ratio"])
    return out


def memory_estimate(n_users: int, n_items: int, n_train: int, factors: int,
                    early_stopping: bool = False) -> int:
    """Bytes a training run needs beyond the loaded data (factors, snapshots, visit order)."""
    params = (n_users + n_items) * (factors + 1) * 4
    copies = 3 if early_stopping else 2  # live + epoch snapshot (+ best epoch)
    return params * copies + n_train * 12  # + the working copy of the rows


def check_memory(n_users: int, n_items: int, n_train: int, factors: int,
                 early_stopping: bool = False, available: int | None = None) -> int:
    """Raise :class:`ResourceError` when a run would not fit in the memory available.

    Returns the estimate in bytes.
    """
    need = memory_estimate(n_users, n_items, n_train, factors, early_stopping)
    if available is None:
        available = _available_memory()
    if available is not None and need > 0.8 * available:
        raise ResourceError(
            f"training needs about {_bytes(need)} ({n_users:,} users + {n_items:,} items × "
            f"{factors} factors) but only {_bytes(available)} is available; use fewer factors "
            "or filter rare users/items")
    return need


def _bytes(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 else f"{n / 2**20:.1f} MiB"


def _available_memory() -> int | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


# ---- internals ------------------------------------------------------------------------------
def _validate_params(p: dict) -> None:
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise ConfigError(msg)

    need(isinstance(p["factors"], (int, np.integer)) and p["factors"] >= 1,
         f"factors must be an integer >= 1, got {p['factors']!r}")
    need(isinstance(p["epochs"], (int, np.integer)) and p["epochs"] >= 0,
         f"epochs must be an integer >= 0, got {p['epochs']!r}")
    for name in ("lr", "reg", "init_std"):
        v = p[name]
        need((v is None and name != "init_std")
             or (isinstance(v, (int, float, np.floating)) and math.isfinite(v) and v >= 0),
             f"{name} must be a finite number >= 0, got {v!r}")
    need(p["lr"] is None or p["lr"] > 0, "lr must be > 0")
    need(p["biased"] is None or isinstance(p["biased"], (bool, np.bool_)),
         f"biased must be True or False, got {p['biased']!r}")
    nr = p["neg_ratio"]
    need(nr is None or (isinstance(nr, (int, float, np.floating)) and math.isfinite(nr)
                        and 0 <= nr <= 100), f"neg_ratio must be between 0 and 100, got {nr!r}")
    need(p["neg_sampling"] in (None, "uniform", "popularity"),
         f"neg_sampling must be 'uniform' or 'popularity', got {p['neg_sampling']!r}")
    need(isinstance(p["threads"], (int, np.integer)) and 0 <= p["threads"] <= 64,
         f"threads must be an integer between 0 and 64, got {p['threads']!r}")
    need(isinstance(p["patience"], (int, np.integer)) and p["patience"] >= 1,
         f"patience must be an integer >= 1, got {p['patience']!r}")
    need(isinstance(p["seed"], (int, np.integer)) and p["seed"] >= 0,
         f"seed must be an integer >= 0, got {p['seed']!r}")


def _check_data(data: Interactions, name: str) -> None:
    if not isinstance(data, Interactions):
        raise DataError(f"{name} data must be an Interactions object")
    if name == "train" and len(data) == 0:
        raise DataError("the training set is empty")
    if not np.isfinite(data.values).all():
        bad = int(np.flatnonzero(~np.isfinite(data.values))[0])
        raise DataError(f"{name} value at row {bad} is {data.values[bad]}; values must be finite",
                        source=data.source or None)


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0] & 0x7FFFFFFF)


class _Run:
    """The per-call state of fit_partial: working rows, blocks, thread pool.

    The training rows are copied once, grouped by stratum (block of users × block of items);
    each epoch shuffles the rows of each stratum in place and runs SGD over them sequentially.
    """

    def __init__(self, model: MFModel, train: Interactions, val: Interactions | None,
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
            ublock = _balanced_blocks(self.counts[0], T)
            iblock = _balanced_blocks(self.counts[1], T)
            stratum = ublock[train.users].astype(np.int64) * T + iblock[train.items]
            order = np.argsort(stratum, kind="stable")
            edges = np.searchsorted(stratum[order], np.arange(T * T + 1))
            self.bounds = [(int(edges[s]), int(edges[s + 1])) for s in range(T * T)]
            self.executor = ThreadPoolExecutor(T, thread_name_prefix="mfcore-sgd")
        take = (lambda a: a.copy()) if order is None else (lambda a: a[order])
        self.users, self.items, self.values = (take(train.users), take(train.items),
                                               take(train.values))
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
        return EpochStats(epoch, float(loss), train_rmse, val_rmse, seconds, rate)


def _balanced_blocks(counts: np.ndarray, T: int) -> np.ndarray:
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

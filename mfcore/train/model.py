"""Matrix factorization estimator: hyperparameters, the epoch loop, and the solver seam.

:class:`MFModel` follows scikit-learn conventions: keyword-only hyperparameters, ``fit`` resets
and trains, ``fit_partial`` continues, fitted attributes end in ``_``. It *is* a
:class:`mfcore.model.FactorModel`, so a trained estimator predicts, ranks and saves like any
loaded model. Training reports after every epoch through ``callback``, stops within a fraction of
a second when ``cancel`` (a ``threading.Event``) is set, and never leaves NaN factors behind: a
step that produces NaN/inf ends the run as ``diverged`` and the factors of the last finished
epoch are restored.

Solvers plug in through a small run protocol. ``SOLVERS[name](model, train, val, cancel)``
builds the run for one ``fit_partial`` call (the model's arrays are initialised and its params
resolved); the loop here then calls

- ``run.epoch(epoch, progress) -> 'ok' | 'cancelled' | int`` — one epoch, updating the model's
  arrays in place; an int is the position of the step that went non-finite;
- ``run.measure(epoch, seconds) -> EpochStats | None`` — the epoch's figures (None: cancelled
  while measuring);
- ``run.close()`` — always, at the end;

and reads ``run.threads`` (the threads it uses). Early stopping, snapshots, cancel, divergence
and the callback are the loop's, the same for every solver.
"""
from __future__ import annotations

import math
import threading
import time
from dataclasses import replace
from typing import Callable

import numpy as np

from ..errors import ConfigError, DataError
from ..interactions import Interactions
from ..model import EpochStats, FactorModel
from .monitor import MONITORS, RankingProbe, monitor_score
from .als import CONFIDENCES, SOLVES, ALSRun, init_factors
from .presets import COMMON, HYPERPARAMETERS, resolve_params
from .sgd import SGDRun
from .snapshot import Snapshot

STATUSES = ("new", "fitted", "cancelled", "diverged", "early_stopped")
#: Run class of each solver (see the module docstring for the protocol).
SOLVERS: dict[str, type] = {"sgd": SGDRun, "als": ALSRun}


class MFModel(FactorModel):
    """Matrix factorization r̂(u,i) = μ + b_u + b_i + p_u·q_i, trained by SGD or implicit ALS.

    Parameters
    ----------
    factors : int
        Latent size k.
    epochs : int, optional
        Epochs (SGD) or iterations (ALS) run by :meth:`fit` (and by :meth:`fit_partial` when it
        is given none).
    solver : {'sgd', 'als'}, optional
        SGD over the observed values (``docs/definitions.md``, "Model and objective"), or
        implicit alternating least squares ("Implicit ALS"). Default: by kind of data
        (ratings: sgd; play counts, playlists: als).
    lr : float, optional
        SGD learning rate γ.
    reg : float, optional
        Regularisation λ, on factors and biases alike.
    init_std : float, optional
        SGD: factors start as N(0, init_std²), biases at 0. (ALS starts from small positive
        values, see :func:`mfcore.train.als.init_factors`.)
    biased : bool, optional
        SGD: use μ, b_u, b_i. False gives the unbiased variant r̂ = p_u·q_i. ALS has no biases.
    neg_ratio : float, optional
        SGD: unobserved items sampled per observed row each epoch, with target 0 (ρ = 0 is the
        playlist notebook's objective, which cannot rank).
    neg_sampling : {'uniform', 'popularity'}, optional
        SGD: how negatives are drawn.
    alpha : float, optional
        ALS: confidence c = 1 + α·g(value) of an observed pair.
    confidence : {'linear', 'log1p'}, optional
        ALS: g, the identity or log(1 + value).
    cg_steps : int, optional
        ALS: conjugate-gradient steps per row and half-step (warm-started).
    solve : {'cg', 'cholesky'}, optional
        ALS: conjugate gradient, or the exact solve (for checking).
    seed : int
        Seeds initialisation, the shuffles, the negative sampler and the ranking sample.
    threads : int
        1: one thread. T >= 2: T threads (stratified SGD / blocks of ALS rows). 0: T = number
        of cores when the training set is large enough to gain from it, else 1.
    eval_k, eval_sample : int
        After every epoch, precision@k, recall@k and NDCG@k (k = ``eval_k``) of a fixed seeded
        sample of ``eval_sample`` validation users (0: none), in :class:`EpochStats`.
    monitor : {'auto', 'val_rmse', 'precision', 'recall', 'ndcg'}
        The figure that picks the best epoch and drives early stopping ('auto': validation RMSE
        for ratings, NDCG@k for play counts and playlists).
    early_stopping : bool
        Stop when ``monitor`` has not improved for ``patience`` epochs, restoring the best.
    patience : int
        See ``early_stopping``.

    Every ``None`` is chosen by the kind of data at fit time, from :mod:`mfcore.train.presets`;
    a value given is always used as given. After ``fit``, ``params`` holds the values used.
    """

    def __init__(self, *, factors: int = COMMON["factors"], epochs: int | None = None,
                 lr: float | None = None, reg: float | None = None,
                 init_std: float | None = None, biased: bool | None = None,
                 neg_ratio: float | None = None, neg_sampling: str | None = None,
                 seed: int = COMMON["seed"], threads: int = COMMON["threads"],
                 early_stopping: bool = COMMON["early_stopping"],
                 patience: int = COMMON["patience"], solver: str | None = None,
                 alpha: float | None = None, confidence: str | None = None,
                 cg_steps: int | None = None, solve: str | None = None,
                 eval_k: int = COMMON["eval_k"], eval_sample: int = COMMON["eval_sample"],
                 monitor: str = COMMON["monitor"]) -> None:
        params = dict(factors=factors, epochs=epochs, lr=lr, reg=reg, init_std=init_std,
                      biased=biased, neg_ratio=neg_ratio, neg_sampling=neg_sampling, seed=seed,
                      threads=threads, early_stopping=early_stopping, patience=patience,
                      solver=solver, alpha=alpha, confidence=confidence, cg_steps=cg_steps,
                      solve=solve, eval_k=eval_k, eval_sample=eval_sample, monitor=monitor)
        _validate_params(params)
        super().__init__(params=params)
        self._requested = dict(params)
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
        run = SOLVERS[self.params["solver"]](self, train, val, cancel)
        self.threads_used_ = run.threads
        self.status_ = "fitted"
        self.diverged_at_ = None
        probe = None
        if val is not None and len(val) and self.params["eval_sample"] > 0:
            probe = RankingProbe(train, val, k=self.params["eval_k"],
                                 sample=self.params["eval_sample"], seed=self.params["seed"],
                                 threads=run.threads)
        try:
            self._run_epochs(run, probe, n_epochs, callback, cancel, progress)
        finally:
            run.close()
        self.data_fingerprint_ = train.fingerprint
        return self

    def _run_epochs(self, run, probe, n_epochs: int, callback, cancel, progress) -> None:
        """The epoch loop: stats, ranking, callback, early stopping, cancel; sets ``status_``.

        The best epoch is the one with the best ``monitor`` figure (when it has one); early
        stopping restores it after ``patience`` epochs without improvement.
        """
        metric = self.params["monitor"]
        best_score, best_snapshot, stale = -math.inf, None, 0
        snapshot = None
        for _ in range(n_epochs):
            epoch = len(self.history_) + 1
            # The state to return to if this epoch fails; an early-stopping snapshot taken at
            # the end of the last epoch is that state already (restoring never writes it).
            if snapshot is None:
                snapshot = self._snapshot()
            stats = self._one_epoch(run, epoch, progress)
            if stats is not None and probe is not None:
                ranked = probe.measure(self, cancel)
                if ranked is None:
                    self.status_ = "cancelled"
                    stats = None
                else:
                    stats = replace(stats, **ranked)
            if stats is None:
                self._restore(snapshot)
                return
            self.history_.append(stats)
            snapshot = None
            if callback is not None:
                callback(stats)
            score = monitor_score(metric, getattr(stats, metric))
            if math.isfinite(score):  # NaN: no figure to watch this run
                if score > best_score:
                    best_score, stale = score, 0
                    self.best_epoch_ = epoch
                    if self.params["early_stopping"]:
                        snapshot = best_snapshot = self._snapshot()
                else:
                    stale += 1
                if self.params["early_stopping"] and stale >= self.params["patience"]:
                    self._restore(best_snapshot)
                    self.status_ = "early_stopped"
                    return
            if cancel is not None and cancel.is_set():
                self.status_ = "cancelled"
                return

    def _one_epoch(self, run, epoch: int, progress) -> EpochStats | None:
        """Run and measure one epoch; None (with ``status_`` set) when it did not finish."""
        t0 = time.perf_counter()
        outcome = run.epoch(epoch, progress)
        seconds = time.perf_counter() - t0
        if outcome == "cancelled":
            self.status_ = "cancelled"
            return None
        if outcome != "ok":
            self.status_ = "diverged"
            self.diverged_at_ = (epoch, int(outcome))
            return None
        stats = run.measure(epoch, seconds)
        if stats is None:  # cancelled while measuring: the epoch has no stats
            self.status_ = "cancelled"
            return None
        if not math.isfinite(stats.loss):
            self.status_ = "diverged"
            self.diverged_at_ = (epoch, -1)
            return None
        return stats

    def _init_params(self, train: Interactions, cancel: threading.Event | None = None) -> None:
        self.params = p = resolve_params(self._requested, train.kind)
        k = p["factors"]
        if p["solver"] == "als":
            self.user_factors_ = init_factors(train.n_users, k, [p["seed"], 0])
            self.item_factors_ = init_factors(train.n_items, k, [p["seed"], 1])
        else:
            rng = np.random.default_rng(p["seed"])
            self.user_factors_ = _normal_rows(rng, train.n_users, k, p["init_std"], cancel)
            self.item_factors_ = _normal_rows(rng, train.n_items, k, p["init_std"], cancel)
        self.user_bias_ = np.zeros(train.n_users, np.float32)
        self.item_bias_ = np.zeros(train.n_items, np.float32)
        self.global_mean_ = float(train.values.mean(dtype=np.float64)) if p["biased"] else 0.0
        self.history_ = []
        self.best_epoch_ = None
        self.status_ = "new"

    def _trained_arrays(self) -> tuple[np.ndarray, ...]:
        return self.user_factors_, self.item_factors_, self.user_bias_, self.item_bias_

    def _snapshot(self) -> Snapshot:
        return Snapshot(self._trained_arrays())

    def _restore(self, snap: Snapshot) -> None:
        snap.restore(self._trained_arrays())

    @classmethod
    def from_arrays(cls, params: dict, *, user_factors, item_factors, user_bias, item_bias,
                    global_mean: float, history=(), status: str = "fitted",
                    data_fingerprint: str | None = None) -> "MFModel":
        """Rebuild a fitted estimator (e.g. from a run's model file), ready to continue."""
        model = cls(**{k: v for k, v in params.items() if k in HYPERPARAMETERS})
        model._set_arrays(user_factors, item_factors, user_bias, item_bias, global_mean)
        model.history_ = [h if isinstance(h, EpochStats) else EpochStats.from_dict(h)
                          for h in history]
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


# ---- internals ------------------------------------------------------------------------------
def _validate_params(p: dict) -> None:
    """Raise :class:`ConfigError` naming the first hyperparameter out of its domain."""
    def need(cond: bool, msg: str) -> None:
        if not cond:
            raise ConfigError(msg)

    def number(v) -> bool:
        return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(
            v, (bool, np.bool_)) and math.isfinite(v)

    def integer(v) -> bool:
        return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))

    def choice(name: str, options) -> None:
        need(p[name] is None or p[name] in options,
             f"{name} must be one of {', '.join(map(repr, options))}, got {p[name]!r}")

    need(integer(p["factors"]) and 1 <= p["factors"] <= 4096,
         f"factors must be an integer between 1 and 4096, got {p['factors']!r}")
    need(p["epochs"] is None or (integer(p["epochs"]) and 0 <= p["epochs"] <= 100_000),
         f"epochs must be an integer between 0 and 100000, got {p['epochs']!r}")
    f32 = np.finfo(np.float32)
    for name in ("lr", "reg", "init_std", "alpha"):
        v = p[name]
        need(v is None or (number(v) and 0 <= v <= float(f32.max)),
             f"{name} must be a finite number between 0 and {f32.max:.4g} (float32, the type "
             f"training computes in), got {v!r}")
    choice("solver", tuple(SOLVERS))
    need(p["lr"] is None or p["lr"] > 0 or p["solver"] == "als", "lr must be > 0")
    # Checked in float32, the type of the updates: a positive lr that rounds to 0 trains nothing.
    need(p["lr"] is None or p["lr"] == 0 or np.float32(p["lr"]) > 0,
         f"lr {p['lr']!r} is 0 in float32 (the smallest positive float32 is "
         f"{float(np.finfo(np.float32).smallest_subnormal):.3g}); training would not move")
    if p["init_std"] is not None and integer(p["factors"]) and p["factors"] >= 1:
        # Factors start N(0, init_std²): p·q of two draws within 8 σ must stay finite in float32.
        top = math.sqrt(float(f32.max) / (64 * p["factors"]))
        need(p["init_std"] <= top, f"init_std {p['init_std']!r} is too large for float32: with "
             f"factors = {p['factors']} the first predictions overflow; at most {top:.3g}")
    need(p["biased"] is None or isinstance(p["biased"], (bool, np.bool_)),
         f"biased must be True or False, got {p['biased']!r}")
    need(p["biased"] is not True or p["solver"] != "als",
         "the als solver has no biases: biased must be False or unset")
    nr = p["neg_ratio"]
    need(nr is None or (number(nr) and 0 <= nr <= 100),
         f"neg_ratio must be between 0 and 100, got {nr!r}")
    choice("neg_sampling", ("uniform", "popularity"))
    choice("confidence", CONFIDENCES)
    choice("solve", SOLVES)
    choice("monitor", ("auto",) + MONITORS)
    need(p["cg_steps"] is None or (integer(p["cg_steps"]) and 1 <= p["cg_steps"] <= 100),
         f"cg_steps must be an integer between 1 and 100, got {p['cg_steps']!r}")
    need(integer(p["threads"]) and 0 <= p["threads"] <= 64,
         f"threads must be an integer between 0 and 64, got {p['threads']!r}")
    need(integer(p["patience"]) and 1 <= p["patience"] <= 10_000,
         f"patience must be an integer between 1 and 10000, got {p['patience']!r}")
    need(integer(p["seed"]) and 0 <= p["seed"] < 2**63,
         f"seed must be an integer between 0 and 2**63 - 1, got {p['seed']!r}")
    need(integer(p["eval_k"]) and 1 <= p["eval_k"] <= 10_000,
         f"eval_k must be an integer between 1 and 10000, got {p['eval_k']!r}")
    need(integer(p["eval_sample"]) and 0 <= p["eval_sample"] <= 10_000_000,
         f"eval_sample must be an integer between 0 and 10000000, got {p['eval_sample']!r}")


def _check_data(data: Interactions, name: str) -> None:
    if not isinstance(data, Interactions):
        raise DataError(f"{name} data must be an Interactions object")
    if name == "train" and len(data) == 0:
        raise DataError("the training set is empty")
    if not np.isfinite(data.values).all():
        bad = int(np.flatnonzero(~np.isfinite(data.values))[0])
        raise DataError(f"{name} value at row {bad} is {data.values[bad]}; values must be finite",
                        source=data.source or None)

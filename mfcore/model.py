"""The fitted factor model: one type for every trainer, every model file and every consumer.

:class:`FactorModel` holds r̂(u, i) = μ + b_u + b_i + p_u·q_i (the unbiased variant has μ, b_u,
b_i at zero): the factor and bias arrays, the hyperparameters they were trained with, the
training history and the raw id maps when known. It predicts values (:meth:`FactorModel.predict`,
the one prediction path, with Surprise's rule for cold users and items) and ranking scores
(:meth:`FactorModel.scores` for a user's items, :meth:`FactorModel.fan_scores` for an item's
users). Trainers (:class:`mfcore.train.MFModel`) subclass it; :func:`mfcore.modelio.load_model`
returns it; evaluation and recommendation read it through :func:`model_parts`, which also accepts
any object with the same fitted attributes.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import NamedTuple

import numpy as np

from .errors import ConfigError, IndexOutOfRange

#: Rows per prediction batch; bounds the temporary (batch × k) gathers to a few tens of MB.
PREDICT_BATCH = 1 << 16


@dataclass(frozen=True)
class EpochStats:
    """What one finished epoch (an SGD epoch or an ALS iteration) reports.

    ``loss`` is the solver's objective after the epoch (SGD: Σ e² + λ(‖p_u‖² + ‖q_i‖² + b_u² +
    b_i²) over the training rows; ALS: the implicit objective of ``docs/definitions.md``);
    ``train_rmse``/``val_rmse`` are sqrt(mean e²), NaN where they mean nothing (no validation
    data, or ALS, whose preferences are not the values). ``precision``, ``recall`` and ``ndcg``
    are the held-out metrics at the run's ``eval_k`` over its fixed validation sample, and
    ``eval_seconds`` what measuring them cost (NaN when not measured). ``seconds`` covers the
    epoch and its loss/RMSE pass, not the ranking pass. ``train_mae`` is mean |e| over the
    training rows (SGD), so a run's final training figures need no second pass over them.
    """

    epoch: int
    loss: float
    train_rmse: float
    val_rmse: float
    seconds: float
    ratings_per_s: float
    precision: float = math.nan
    recall: float = math.nan
    ndcg: float = math.nan
    eval_seconds: float = math.nan
    train_mae: float = math.nan

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "EpochStats":
        """Rebuild from :meth:`to_dict` output (or a model file's JSON: missing or null -> NaN)."""
        def num(name: str) -> float:
            v = d.get(name)
            return math.nan if v is None else float(v)

        return cls(int(d["epoch"]), *(num(f.name) for f in fields(cls)[1:]))


class ModelParts(NamedTuple):
    """The arrays of a factor model, checked, float32, with biases filled in."""

    P: np.ndarray        # (n_users, k) float32
    Q: np.ndarray        # (n_items, k) float32
    bu: np.ndarray       # (n_users,) float32
    bi: np.ndarray       # (n_items,) float32
    mu: float
    biased: bool

    def side(self, direction: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(subject factors, candidate factors, candidate bias) for ranking in ``direction``.

        ``'users'`` ranks items for users by b_i + p_u·q_i; ``'items'`` ranks users for items by
        b_u + p_u·q_i (μ and the subject's own bias never change an order).
        """
        return (self.P, self.Q, self.bi) if direction == "users" else (self.Q, self.P, self.bu)


def model_parts(model) -> ModelParts:
    """Read and check the factor arrays of ``model``.

    Parameters
    ----------
    model : FactorModel, or any object with ``user_factors_``, ``item_factors_`` and optionally
        ``user_bias_``, ``item_bias_``, ``global_mean_`` (None or absent = zero) and ``params``.

    Raises
    ------
    ConfigError
        A missing attribute (an unfitted model) or inconsistent shapes.
    """
    return _checked(getattr(model, "user_factors_", None), getattr(model, "item_factors_", None),
                    getattr(model, "user_bias_", None), getattr(model, "item_bias_", None),
                    getattr(model, "global_mean_", None), getattr(model, "params", None))


def as_factor_model(model) -> "FactorModel":
    """``model`` itself when it is a :class:`FactorModel`, else a FactorModel over its arrays.

    Lets every function take any object with the fitted attributes (``user_factors_``, ...);
    float32 contiguous arrays are shared, not copied.
    """
    if isinstance(model, FactorModel):
        return model
    m = model_parts(model)
    return FactorModel(user_factors=m.P, item_factors=m.Q, user_bias=m.bu, item_bias=m.bi,
                       global_mean=m.mu, params={**(getattr(model, "params", None) or {}),
                                                 "biased": m.biased})


def _checked(P, Q, bu, bi, mu, params) -> ModelParts:
    if P is None or Q is None:
        raise ConfigError("the model is not fitted: it has no user_factors_/item_factors_")
    P = np.asarray(P, dtype=np.float32)
    Q = np.asarray(Q, dtype=np.float32)
    if P.ndim != 2 or Q.ndim != 2 or P.shape[1] != Q.shape[1]:
        raise ConfigError(f"factor shapes do not match: users {P.shape}, items {Q.shape}")
    bu = np.zeros(len(P), np.float32) if bu is None else np.asarray(bu, dtype=np.float32)
    bi = np.zeros(len(Q), np.float32) if bi is None else np.asarray(bi, dtype=np.float32)
    if bu.shape != (len(P),) or bi.shape != (len(Q),):
        raise ConfigError(f"bias shapes {bu.shape}, {bi.shape} do not match the factors "
                          f"({len(P)} users, {len(Q)} items)")
    mu = 0.0 if mu is None else float(mu)
    params = params or {}
    if params.get("biased") is not None:
        biased = bool(params["biased"])
    else:
        biased = bool(mu != 0.0 or np.any(bu) or np.any(bi))
    return ModelParts(P, Q, bu, bi, mu, biased)


def check_indices(name: str, idx: np.ndarray, n: int) -> None:
    """Raise :class:`IndexOutOfRange` naming the first of ``idx`` outside [0, n)."""
    if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= n):
        bad = idx[(idx < 0) | (idx >= n)][0]
        raise IndexOutOfRange(f"{name} index {int(bad)} is out of range: the model has {n} "
                              f"{name}s (valid indices 0..{n - 1}; was it trained on this "
                              f"dataset?)")


def index_array(name: str, values, n: int) -> np.ndarray:
    """``values`` as a checked int64 array of indices into [0, n) (a scalar gives one).

    Raises
    ------
    ConfigError
        Not a 1-D list of integers; :class:`IndexOutOfRange` for an index outside [0, n).
    """
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ConfigError(f"{name} must be a 1-D list of indices")
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        raise ConfigError(f"{name} must be integer indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    check_indices(name.rstrip("s"), arr, n)
    return arr


def known_rows(train, n_users: int, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean masks of the users and items that have at least one row in ``train``."""
    known_u = np.zeros(n_users, dtype=bool)
    known_i = np.zeros(n_items, dtype=bool)
    known_u[train.users[train.users < n_users]] = True
    known_i[train.items[train.items < n_items]] = True
    return known_u, known_i


class FactorModel:
    """A fitted factor model r̂(u, i) = μ + b_u + b_i + p_u·q_i.

    Parameters
    ----------
    user_factors, item_factors : array-like (n_users, k), (n_items, k), optional
        None for a model not fitted yet.
    user_bias, item_bias : array-like, optional
        Zeros when omitted (the unbiased variant).
    global_mean : float
    params : dict, optional
        The hyperparameters the arrays were trained with (``biased``, ``reg``, ...).
    history : sequence of EpochStats or dicts
    status : str, optional
        ``'fitted'`` when arrays are given, else ``'new'``, unless stated.
    best_epoch, diverged_at, data_fingerprint
        As recorded by the trainer.
    user_ids, item_ids : ndarray, optional
        Raw ids of the dense indices (None when unknown).

    Attributes
    ----------
    user_factors_, item_factors_, user_bias_, item_bias_ : float32 arrays (None before fitting)
    global_mean_ : float
    params : dict
    history_ : list of EpochStats
    status_ : str
        ``'new'``, ``'fitted'``, ``'cancelled'``, ``'diverged'`` or ``'early_stopped'``.
    best_epoch_, diverged_at_, data_fingerprint_, user_ids, item_ids
    """

    def __init__(self, *, user_factors=None, item_factors=None, user_bias=None, item_bias=None,
                 global_mean: float = 0.0, params: dict | None = None, history=(),
                 status: str | None = None, best_epoch: int | None = None,
                 diverged_at: tuple[int, int] | None = None,
                 data_fingerprint: str | None = None, user_ids=None, item_ids=None) -> None:
        self.params = dict(params or {})
        self.user_factors_ = self.item_factors_ = None
        self.user_bias_ = self.item_bias_ = None
        self.global_mean_ = 0.0
        if user_factors is not None or item_factors is not None:
            self._set_arrays(user_factors, item_factors, user_bias, item_bias, global_mean)
        self.history_: list[EpochStats] = [
            h if isinstance(h, EpochStats) else EpochStats.from_dict(h) for h in history]
        self.status_ = status or ("fitted" if self.is_fitted else "new")
        self.best_epoch_ = best_epoch
        self.diverged_at_ = None if diverged_at is None else tuple(diverged_at)
        self.data_fingerprint_ = data_fingerprint
        self.user_ids = user_ids
        self.item_ids = item_ids

    def _set_arrays(self, user_factors, item_factors, user_bias, item_bias,
                    global_mean: float) -> None:
        m = _checked(user_factors, item_factors, user_bias, item_bias, global_mean, self.params)
        self.user_factors_ = np.ascontiguousarray(m.P)
        self.item_factors_ = np.ascontiguousarray(m.Q)
        self.user_bias_ = np.ascontiguousarray(m.bu)
        self.item_bias_ = np.ascontiguousarray(m.bi)
        self.global_mean_ = m.mu

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

    def parts(self) -> ModelParts:
        """The checked arrays (:class:`ModelParts`); ConfigError when not fitted."""
        return model_parts(self)

    def __repr__(self) -> str:
        if not self.is_fitted:
            return f"{type(self).__name__}(not fitted)"
        return (f"{type(self).__name__}({self.n_users_} users × {self.n_items_} items, "
                f"k={self.user_factors_.shape[1]}, status={self.status_!r})")

    # ---- prediction and scores ----------------------------------------------------------
    def predict(self, users, items, *, train=None, batch_size: int = PREDICT_BATCH) -> np.ndarray:
        """Predicted values r̂ = μ + b_u + b_i + p_u·q_i for pairs of dense indices.

        Parameters
        ----------
        users, items : array-like of int, same length
        train : Interactions, optional
            The training set: a user or item without a row in it is cold and its (untrained)
            parameters are left out, the Surprise way (an unknown user gets μ + b_i, an unknown
            item μ + b_u, both unknown μ). Without it every parameter is used as is.
        batch_size : int
            Rows per batch (memory bound).

        Returns
        -------
        ndarray of float32 (summed in float64)

        Raises
        ------
        ConfigError
            Not fitted, indices outside the model, or arrays of different lengths.
        """
        m = self.parts()
        known = None if train is None else known_rows(train, len(m.P), len(m.Q))
        return _predict64(m, users, items, known, batch_size).astype(np.float32)

    def scores(self, user: int) -> np.ndarray:
        """Ranking scores b_i + p_u·q_i of every item for one user (μ, b_u do not change order)."""
        return self.item_scores(self.parts().P[int(user)])

    def item_scores(self, p: np.ndarray) -> np.ndarray:
        """Ranking scores b_i + p·q_i of every item for a user vector ``p`` (e.g. folded in)."""
        _, Q, bias = self.parts().side("users")
        return Q @ np.asarray(p, dtype=np.float32) + bias

    def fan_scores(self, item: int) -> np.ndarray:
        """Ranking scores b_u + p_u·q_i of every user for one item (its top fans)."""
        Q, P, bias = self.parts().side("items")
        return P @ Q[int(item)] + bias


def _predict64(m: ModelParts, users, items, known, batch_size: int) -> np.ndarray:
    users = np.asarray(users, dtype=np.int64).ravel()
    items = np.asarray(items, dtype=np.int64).ravel()
    if len(users) != len(items):
        raise ConfigError(f"users and items differ in length ({len(users)} vs {len(items)})")
    check_indices("user", users, len(m.P))
    check_indices("item", items, len(m.Q))
    out = np.empty(len(users), dtype=np.float64)
    step = max(1, int(batch_size))
    for s in range(0, len(users), step):
        u = users[s:s + step]
        i = items[s:s + step]
        dot = np.einsum("ij,ij->i", m.P[u], m.Q[i], dtype=np.float64)
        bu = m.bu[u].astype(np.float64)
        bi = m.bi[i].astype(np.float64)
        if known is not None:
            ku, ki = known[0][u], known[1][i]
            dot = np.where(ku & ki, dot, 0.0)
            bu = np.where(ku, bu, 0.0)
            bi = np.where(ki, bi, 0.0)
        out[s:s + len(u)] = m.mu + bu + bi + dot
    return out

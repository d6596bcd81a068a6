"""Rating-prediction accuracy: predictions, RMSE / MAE, and simple baselines.

``model`` is anything exposing ``user_factors_`` (n_users × k), ``item_factors_`` (n_items × k),
``user_bias_``, ``item_bias_`` and ``global_mean_`` (an unbiased model has zero biases and mean,
or ``None`` for them). Prediction: r̂(u, i) = μ + b_u + b_i + p_u·q_i.

Cold users and items (no training rows) are handled the Surprise way when ``train`` is given: the
unknown parts are dropped from the prediction (an unknown user gets μ + b_i, an unknown item
μ + b_u, both unknown μ) and the rows are counted.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..errors import ConfigError, DataError
from ..interactions import Interactions

#: Rows per prediction batch; bounds the temporary (batch × k) gathers to a few tens of MB.
PREDICT_BATCH = 1 << 16

#: Surprise's ``BaselineOnly`` ALS defaults (``reg_i``, ``reg_u``, ``n_epochs``).
BASELINE_REG_ITEM = 10.0
BASELINE_REG_USER = 15.0
BASELINE_EPOCHS = 10
#: Shrinkage (pseudo-count of ratings at the global mean) of the popularity baseline.
POPULARITY_SHRINKAGE = 10.0


class ModelParts(NamedTuple):
    """The arrays of a factor model, checked and with biases filled in."""

    P: np.ndarray        # (n_users, k) float32
    Q: np.ndarray        # (n_items, k) float32
    bu: np.ndarray       # (n_users,) float32
    bi: np.ndarray       # (n_items,) float32
    mu: float
    biased: bool


def model_parts(model) -> ModelParts:
    """Read and check the factor arrays of ``model``.

    Raises
    ------
    ConfigError
        A missing attribute (an unfitted model) or inconsistent shapes.
    """
    try:
        P = np.asarray(model.user_factors_)
        Q = np.asarray(model.item_factors_)
    except AttributeError:
        raise ConfigError("the model is not fitted: it has no user_factors_/item_factors_") \
            from None
    if P.ndim != 2 or Q.ndim != 2 or P.shape[1] != Q.shape[1]:
        raise ConfigError(f"factor shapes do not match: users {P.shape}, items {Q.shape}")
    if P.dtype != np.float32:
        P = P.astype(np.float32)
    if Q.dtype != np.float32:
        Q = Q.astype(np.float32)
    bu = getattr(model, "user_bias_", None)
    bi = getattr(model, "item_bias_", None)
    mu = getattr(model, "global_mean_", None)
    bu = np.zeros(len(P), np.float32) if bu is None else np.asarray(bu, dtype=np.float32)
    bi = np.zeros(len(Q), np.float32) if bi is None else np.asarray(bi, dtype=np.float32)
    if bu.shape != (len(P),) or bi.shape != (len(Q),):
        raise ConfigError(f"bias shapes {bu.shape}, {bi.shape} do not match the factors "
                          f"({len(P)} users, {len(Q)} items)")
    mu = 0.0 if mu is None else float(mu)
    params = getattr(model, "params", None) or {}
    if "biased" in params:
        biased = bool(params["biased"])
    else:
        biased = bool(mu != 0.0 or np.any(bu) or np.any(bi))
    return ModelParts(P, Q, bu, bi, mu, biased)


def _check_indices(name: str, idx: np.ndarray, n: int) -> None:
    if len(idx) and (int(idx.min()) < 0 or int(idx.max()) >= n):
        bad = idx[(idx < 0) | (idx >= n)][0]
        raise ConfigError(f"{name} index {int(bad)} is out of range: the model has {n} {name}s "
                          f"(was it trained on this dataset?)")


def predict(model, users, items, *, batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Predicted values r̂ = μ + b_u + b_i + p_u·q_i for pairs of dense indices.

    Parameters
    ----------
    model : fitted factor model
    users, items : array-like of int, same length
    batch_size : int
        Rows per batch (memory bound).

    Returns
    -------
    ndarray of float32

    Raises
    ------
    ConfigError
        Indices outside the model, or arrays of different lengths.
    """
    return _predict64(model_parts(model), users, items, batch_size=batch_size).astype(np.float32)


def _predict64(m: ModelParts, users, items, *, known_u=None, known_i=None,
               batch_size: int = PREDICT_BATCH) -> np.ndarray:
    users = np.asarray(users, dtype=np.int64).ravel()
    items = np.asarray(items, dtype=np.int64).ravel()
    if len(users) != len(items):
        raise ConfigError(f"users and items differ in length ({len(users)} vs {len(items)})")
    _check_indices("user", users, len(m.P))
    _check_indices("item", items, len(m.Q))
    out = np.empty(len(users), dtype=np.float64)
    for s in range(0, len(users), max(1, int(batch_size))):
        u = users[s:s + batch_size]
        i = items[s:s + batch_size]
        dot = np.einsum("ij,ij->i", m.P[u], m.Q[i], dtype=np.float64)
        bu = m.bu[u].astype(np.float64)
        bi = m.bi[i].astype(np.float64)
        if known_u is not None:
            ku = known_u[u]
            ki = known_i[i]
            dot = np.where(ku & ki, dot, 0.0)
            bu = np.where(ku, bu, 0.0)
            bi = np.where(ki, bi, 0.0)
        out[s:s + len(u)] = m.mu + bu + bi + dot
    return out


def score_predictions(model, data: Interactions, *, train: Interactions | None = None,
                      clip: tuple[float, float] | None = None) -> dict:
    """RMSE and MAE of ``model`` on ``data``, with cold rows counted.

    Parameters
    ----------
    model : fitted factor model
    data : Interactions
        Rows to score (dense indices of the model's id maps).
    train : Interactions, optional
        The training set; users/items without a row in it are cold and predicted without their
        (untrained) parameters. Without it every parameter is used as is.
    clip : (low, high), optional
        Clip predictions to this range first (Surprise clips to the rating scale, so compare
        with it this way).

    Returns
    -------
    dict
        ``rmse``, ``mae``, ``n`` (rows), ``n_cold_users``, ``n_cold_items`` (distinct), and
        ``n_cold_rows`` (rows with a cold user or item).

    Raises
    ------
    DataError
        ``data`` is empty.
    """
    if data is None or len(data) == 0:
        raise DataError("cannot score predictions on an empty set (no rows to compare)")
    m = model_parts(model)
    known_u = known_i = None
    cold = {"n_cold_users": 0, "n_cold_items": 0, "n_cold_rows": 0}
    if train is not None:
        known_u = np.zeros(len(m.P), dtype=bool)
        known_i = np.zeros(len(m.Q), dtype=bool)
        known_u[train.users[train.users < len(m.P)]] = True
        known_i[train.items[train.items < len(m.Q)]] = True
        cold = _cold_stats(data, known_u, known_i)
    pred = _predict64(m, data.users, data.items, known_u=known_u, known_i=known_i)
    if clip is not None:
        np.clip(pred, clip[0], clip[1], out=pred)
    err = data.values.astype(np.float64) - pred
    return {"rmse": float(np.sqrt(np.mean(err * err))), "mae": float(np.mean(np.abs(err))),
            "n": len(data), **cold}


def _cold_stats(data: Interactions, known_u: np.ndarray, known_i: np.ndarray) -> dict:
    cu = ~known_u[data.users]
    ci = ~known_i[data.items]
    return {"n_cold_users": int(len(np.unique(data.users[cu]))),
            "n_cold_items": int(len(np.unique(data.items[ci]))),
            "n_cold_rows": int(np.count_nonzero(cu | ci))}


def rmse(model, data: Interactions, *, train: Interactions | None = None) -> float:
    """Root mean squared error sqrt(mean (r − r̂)²) of ``model`` on ``data``.

    See :func:`score_predictions` for ``train`` (cold handling). Raises DataError on empty data.
    """
    return score_predictions(model, data, train=train)["rmse"]


def mae(model, data: Interactions, *, train: Interactions | None = None) -> float:
    """Mean absolute error mean |r − r̂| of ``model`` on ``data``.

    See :func:`score_predictions` for ``train`` (cold handling). Raises DataError on empty data.
    """
    return score_predictions(model, data, train=train)["mae"]


def fit_baseline_biases(train: Interactions, *, reg_item: float = BASELINE_REG_ITEM,
                        reg_user: float = BASELINE_REG_USER, epochs: int = BASELINE_EPOCHS):
    """Biases μ, b_u, b_i by regularised alternating averages (Surprise ``BaselineOnly`` ALS).

    Each round: b_i = Σ_u (r − μ − b_u) / (reg_item + |U_i|), then
    b_u = Σ_i (r − μ − b_i) / (reg_user + |I_u|). Users/items without rows keep 0.

    Returns
    -------
    (mu, bu, bi) : float, ndarray float64, ndarray float64
    """
    r = train.values.astype(np.float64)
    mu = float(r.mean())
    nu = np.bincount(train.users, minlength=train.n_users).astype(np.float64)
    ni = np.bincount(train.items, minlength=train.n_items).astype(np.float64)
    bu = np.zeros(train.n_users)
    bi = np.zeros(train.n_items)
    for _ in range(int(epochs)):
        bi = np.bincount(train.items, weights=r - mu - bu[train.users],
                         minlength=train.n_items) / (reg_item + ni)
        bu = np.bincount(train.users, weights=r - mu - bi[train.items],
                         minlength=train.n_users) / (reg_user + nu)
    return mu, bu, bi


def baselines(train: Interactions, test: Interactions) -> dict:
    """RMSE and MAE of three reference predictors fitted on ``train``, scored on ``test``.

    - ``'global mean'``: r̂ = μ (mean training value).
    - ``'biases'``: r̂ = μ + b_u + b_i with biases from :func:`fit_baseline_biases`
      (Surprise ``BaselineOnly`` ALS: reg_i = 10, reg_u = 15, 10 rounds); a cold user or item
      contributes 0.
    - ``'popularity'``: r̂ = the item's shrunken mean (Σ_u r_ui + β μ) / (n_i + β) with
      β = :data:`POPULARITY_SHRINKAGE` (= 10); a cold item gets μ.

    Parameters
    ----------
    train, test : Interactions
        Sharing id maps (as every split does).

    Returns
    -------
    dict
        name -> ``{'rmse', 'mae', 'n', 'n_cold_users', 'n_cold_items', 'n_cold_rows'}``.

    Raises
    ------
    DataError
        Empty ``train`` or ``test``.
    ConfigError
        ``test`` indices outside ``train``'s id maps.
    """
    if train is None or len(train) == 0:
        raise DataError("cannot fit baselines on an empty training set")
    if test is None or len(test) == 0:
        raise DataError("cannot score baselines on an empty test set (no rows to compare)")
    _check_indices("user", test.users.astype(np.int64), train.n_users)
    _check_indices("item", test.items.astype(np.int64), train.n_items)
    mu, bu, bi = fit_baseline_biases(train)
    ni = np.bincount(train.items, minlength=train.n_items).astype(np.float64)
    known_u = np.bincount(train.users, minlength=train.n_users) > 0
    known_i = ni > 0
    cold = _cold_stats(test, known_u, known_i)
    sums = np.bincount(train.items, weights=train.values.astype(np.float64),
                       minlength=train.n_items)
    pop = (sums + POPULARITY_SHRINKAGE * mu) / (ni + POPULARITY_SHRINKAGE)
    r = test.values.astype(np.float64)
    preds = {
        "global mean": np.full(len(test), mu),
        # bu, bi are 0 for users/items without training rows.
        "biases": mu + bu[test.users] + bi[test.items],
        "popularity": pop[test.items],
    }
    out = {}
    for name, p in preds.items():
        e = r - p
        out[name] = {"rmse": float(np.sqrt(np.mean(e * e))), "mae": float(np.mean(np.abs(e))),
                     "n": len(test), **cold}
    return out

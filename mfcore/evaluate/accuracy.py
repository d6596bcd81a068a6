"""Rating-prediction accuracy: RMSE / MAE of a model, and simple baselines.

``model`` is a :class:`mfcore.model.FactorModel` (or anything with its fitted attributes); its
:meth:`~mfcore.model.FactorModel.predict` gives r̂(u, i) = μ + b_u + b_i + p_u·q_i. Cold users
and items (no training rows) are handled the Surprise way when ``train`` is given: the unknown
parts are dropped from the prediction (an unknown user gets μ + b_i, an unknown item μ + b_u,
both unknown μ) and the rows are counted.
"""
from __future__ import annotations

import numpy as np

from ..errors import DataError
from ..interactions import Interactions
from ..rowindex import index_counts
# ModelParts / model_parts are re-exported for callers of their former home (until the merge).
from ..model import ModelParts, as_factor_model, check_indices, known_rows, model_parts

__all__ = ["BASELINE_EPOCHS", "BASELINE_REG_ITEM", "BASELINE_REG_USER", "ModelParts",
           "POPULARITY_SHRINKAGE", "baselines", "fit_baseline_biases", "mae", "model_parts",
           "rmse", "score_predictions"]

#: Surprise's ``BaselineOnly`` ALS defaults (``reg_i``, ``reg_u``, ``n_epochs``).
BASELINE_REG_ITEM = 10.0
BASELINE_REG_USER = 15.0
BASELINE_EPOCHS = 10
#: Shrinkage (pseudo-count of ratings at the global mean) of the popularity baseline.
POPULARITY_SHRINKAGE = 10.0


def score_predictions(model, data: Interactions, *, train: Interactions | None = None,
                      clip: tuple[float, float] | None = None) -> dict:
    """RMSE and MAE of ``model`` on ``data``, with cold rows counted.

    Parameters
    ----------
    model : FactorModel
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
    model = as_factor_model(model)
    cold = {"n_cold_users": 0, "n_cold_items": 0, "n_cold_rows": 0}
    if train is not None:
        cold = _cold_stats(data, *known_rows(train, model.n_users_, model.n_items_))
    pred = model.predict(data.users, data.items, train=train).astype(np.float64)
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
    nu = index_counts(train.users, train.n_users).astype(np.float64)
    ni = index_counts(train.items, train.n_items).astype(np.float64)
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
    check_indices("user", test.users.astype(np.int64), train.n_users)
    check_indices("item", test.items.astype(np.int64), train.n_items)
    mu, bu, bi = fit_baseline_biases(train)
    ni = index_counts(train.items, train.n_items).astype(np.float64)
    known_u = index_counts(train.users, train.n_users) > 0
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

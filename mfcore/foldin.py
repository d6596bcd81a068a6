"""Fold-in: the factors of a user (or playlist) not seen in training, from the items it has.

Each model folds in with the objective it was trained with (``docs/definitions.md``, "Fold-in"),
so nothing has to be picked by hand:

- **ALS** models: the exact ALS user step with the given items as observed, confidence
  c = 1 + α·g(value) (value 1 when none is given) and the Gram term over *all* items:
  x = (YᵀY + Yᵀ(C − I)Y + λI)⁻¹ YᵀC·1. The unobserved items pull towards 0, so a short list is
  not interpolated and the list's neighbours rank first.
- **SGD models trained with sampled negatives** (ρ > 0): the same idea with SGD's own weights.
  Each epoch visits every observed pair once and ρ uniform negatives per pair, so for n given
  items the expected objective is Σ_given (t − p·q_i)² + w Σ_all (p·q_i)² + λ·n(1 + ρ)‖p‖² with
  w = ρ·n / n_items: p = (w·QᵀQ + Q_gᵀQ_g + λ n (1 + ρ) I)⁻¹ Q_gᵀ t.
- **Other SGD models** (ratings, ρ = 0): the ridge of the trained objective, which regularises
  per observation: [p, b_u] = argmin Σ_given (t − μ − b_i − b_u − p·q_i)² + λ n (‖p‖² + b_u²),
  unbiased models without the b terms. Targets default to one unit above the model's mean
  (μ + 1: on a log1p play-count scale, a song played e times more than average; on stars, a
  liked film), so the given items pull the user towards them; ones for unbiased models.
"""
from __future__ import annotations

import numpy as np

from .errors import ConfigError
from .model import FactorModel, as_factor_model, index_array


def _targets(values, n: int) -> np.ndarray | None:
    if values is None:
        return None
    t = np.asarray(values, dtype=np.float64).ravel()
    if len(t) != n:
        raise ConfigError(f"values has {len(t)} entries for {n} items")
    if not np.all(np.isfinite(t)):
        raise ConfigError("values must be finite")
    return t


def _reg(model: FactorModel, reg: float | None) -> float:
    lam = model.params.get("reg", 0.02) if reg is None else reg
    try:
        lam = float(lam)
    except (TypeError, ValueError):
        raise ConfigError(f"reg must be a number >= 0, got {reg!r}") from None
    if not np.isfinite(lam) or lam < 0:
        raise ConfigError(f"reg must be a number >= 0, got {reg!r}")
    return lam


def fold_in_many(model, indptr: np.ndarray, items: np.ndarray, values=None,
                 reg: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Fold in several users at once, user ``u`` having ``items[indptr[u]:indptr[u+1]]``.

    Parameters
    ----------
    model : FactorModel
    indptr : int64 array (n_users + 1,)
    items : int array
        Dense item indices, already checked against the model.
    values : float array like ``items``, optional
        Observed values (ones, or the model's default targets, when omitted).
    reg : float, optional
        λ; default the model's training λ.

    Returns
    -------
    (P float32 (n_users, k), b_u float32 (n_users,))
    """
    model = as_factor_model(model)
    m = model.parts()
    lam = _reg(model, reg)
    indptr = np.asarray(indptr, dtype=np.int64)
    items = np.ascontiguousarray(items, dtype=np.int32)
    t = _targets(values, len(items))
    n_users, k = len(indptr) - 1, m.Q.shape[1]
    P = np.zeros((n_users, k), np.float32)
    bu = np.zeros(n_users, np.float32)
    if model.params.get("solver") == "als":
        # Imported here: the training package imports this module (its ranking probe folds in
        # users of a split by user), so a module-level import would make a cycle.
        from .train import als_kernels
        from .train.als import confidence_weights
        conf = confidence_weights(
            np.ones(len(items), np.float32) if t is None else t.astype(np.float32),
            float(model.params.get("alpha", 1.0)), model.params.get("confidence", "linear"))
        G = als_kernels.gram(m.Q)
        bad = als_kernels.cholesky_rows(indptr, items, conf, P, m.Q, G, lam, 0, n_users,
                                        None)  # the variant training compiles
        if bad != als_kernels.OK:
            raise ConfigError("the fold-in system has no finite solution (is reg > 0?)")
        return P, bu
    rho = float(model.params.get("neg_ratio") or 0.0)
    gram = m.Q.T.astype(np.float64) @ m.Q.astype(np.float64) if rho > 0 else None
    for u in range(n_users):
        got = items[indptr[u]:indptr[u + 1]]
        if not len(got):
            continue
        tu = None if t is None else t[indptr[u]:indptr[u + 1]]
        P[u], bu[u] = _sgd_fold_in(m, got, tu, lam, rho, gram)
    return P, bu


def _sgd_fold_in(m, items: np.ndarray, t, lam: float, rho: float, gram):
    """One user's fold-in for an SGD model (see the module docstring)."""
    n, k = len(items), m.Q.shape[1]
    Y = m.Q[items].astype(np.float64)
    if m.biased:
        t = np.full(n, m.mu + 1.0) if t is None else t
        X = np.hstack([Y, np.ones((n, 1))])
        rhs_t = t - m.mu - m.bi[items].astype(np.float64)
    else:
        X, rhs_t = Y, (np.ones(n) if t is None else t)
    A = X.T @ X + lam * n * (1.0 + rho) * np.eye(X.shape[1])
    if gram is not None:
        A[:k, :k] += (rho * n / len(m.Q)) * gram
    try:
        x = np.linalg.solve(A, X.T @ rhs_t)
    except np.linalg.LinAlgError:      # λ = 0 and too few items: minimum-norm solution
        x = np.linalg.lstsq(A, X.T @ rhs_t, rcond=None)[0]
    return x[:k].astype(np.float32), (float(x[k]) if m.biased else 0.0)


def fold_in(model, items, values=None, reg: float | None = None) -> tuple[np.ndarray, float]:
    """Factors of one new user (or playlist) from the items it has, without retraining.

    Parameters
    ----------
    model : FactorModel
    items : array-like of int
        Dense item indices. Empty gives p = 0, b_u = 0.
    values : array-like of float, optional
        One observed value per item (see the module docstring for the default).
    reg : float, optional
        λ; default the model's training λ.

    Returns
    -------
    (p float32 (k,), b_u float)
    """
    model = as_factor_model(model)
    items = index_array("items", items, model.n_items_)
    P, bu = fold_in_many(model, np.array([0, len(items)]), items, values, reg)
    return P[0], float(bu[0])

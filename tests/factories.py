"""Hand-set models and tiny datasets shared by the ranking and recommendation tests."""
from __future__ import annotations

import numpy as np

from mfcore.interactions import Interactions
from mfcore.model import FactorModel


def make_model(P, Q, bu=None, bi=None, mu=0.0, biased=True, reg=0.02) -> FactorModel:
    """A fitted model with exactly these factors and biases (zeros when omitted)."""
    return FactorModel(user_factors=P, item_factors=Q, user_bias=bu, item_bias=bi,
                       global_mean=mu, params={"biased": biased, "reg": reg})


def inter(rows, n_users, n_items):
    """Interactions from (user, item) or (user, item, value) tuples with ids 0..n-1."""
    rows = [tuple(r) + (1.0,) * (3 - len(r)) for r in rows]
    u, i, v = (np.array(c) for c in zip(*rows)) if rows else ([], [], [])
    return Interactions(np.asarray(u, np.int32), np.asarray(i, np.int32),
                        np.asarray(v, np.float32), np.arange(n_users), np.arange(n_items))

"""Hand-set models and tiny datasets shared by the ranking and recommendation tests."""
from __future__ import annotations

import types

import numpy as np

from mfcore.interactions import Interactions


def make_model(P, Q, bu=None, bi=None, mu=0.0, biased=True, reg=0.02):
    """A fitted-model stand-in with exactly these factors and biases."""
    P = np.asarray(P, dtype=np.float32)
    Q = np.asarray(Q, dtype=np.float32)
    return types.SimpleNamespace(
        user_factors_=P, item_factors_=Q,
        user_bias_=np.zeros(len(P), np.float32) if bu is None else np.asarray(bu, np.float32),
        item_bias_=np.zeros(len(Q), np.float32) if bi is None else np.asarray(bi, np.float32),
        global_mean_=mu, params={"biased": biased, "reg": reg})


def inter(rows, n_users, n_items):
    """Interactions from (user, item) or (user, item, value) tuples with ids 0..n-1."""
    rows = [tuple(r) + (1.0,) * (3 - len(r)) for r in rows]
    u, i, v = (np.array(c) for c in zip(*rows)) if rows else ([], [], [])
    return Interactions(np.asarray(u, np.int32), np.asarray(i, np.int32),
                        np.asarray(v, np.float32), np.arange(n_users), np.arange(n_items))

"""Hyperparameter defaults by kind of data: the one place MFModel, the CLI and the dashboard read.

Explicit values (play counts, ratings) use Surprise's ``SVD`` defaults (k = 100, 20 epochs,
γ 0.005, λ 0.02, init N(0, 0.1²), biased): they reproduce the MovieLens 100k reference of
``docs/definitions.md`` (RMSE 0.934), so a figure from this tool can be compared with Surprise's
as is. The dashboard used its own set (k 32, 30 epochs, γ 0.01, λ 0.05) until it was made to read
this module; two sets meant two answers to "what does a default run give".

Implicit values (playlists) were tuned on the MPD sample (benchmarks/bench_quality.py): with the
explicit ones, implicit data ranks no better than popularity, since b_i learns popularity faster
than the factors learn anything and rare items (most of a playlist catalogue) barely move from
their random start; ρ = 0 cannot rank at all. So: unbiased, γ 0.03, λ 0.01, ρ 10 uniform.
"""
from __future__ import annotations

#: Hyperparameters whose default does not depend on the kind of data.
COMMON: dict = dict(factors=100, epochs=20, init_std=0.1, seed=0, threads=1,
                    early_stopping=False, patience=3, solver="sgd")
#: What ``None`` becomes for explicit data (the kind-dependent hyperparameters only).
EXPLICIT_DEFAULTS: dict = dict(lr=0.005, reg=0.02, biased=True, neg_ratio=0.0,
                               neg_sampling="uniform")
#: What ``None`` becomes for implicit data.
IMPLICIT_DEFAULTS: dict = dict(lr=0.03, reg=0.01, biased=False, neg_ratio=10.0,
                               neg_sampling="uniform")


def defaults(implicit: bool) -> dict:
    """Every MFModel hyperparameter at its default for this kind of data (a fresh dict)."""
    return {**COMMON, **(IMPLICIT_DEFAULTS if implicit else EXPLICIT_DEFAULTS)}


def resolve_params(params: dict, implicit: bool) -> dict:
    """``params`` with every kind-dependent ``None`` replaced by the default for this data.

    A value given is always used as given.
    """
    kind = IMPLICIT_DEFAULTS if implicit else EXPLICIT_DEFAULTS
    out = {k: (kind[k] if v is None and k in kind else v) for k, v in params.items()}
    out["neg_ratio"] = float(out["neg_ratio"])
    return out

"""How much each hyperparameter explains of a sweep's outcome: one-way ANOVA eta².

For a hyperparameter h and a metric y (validation RMSE by default) over the sweep's usable trials
(finite y; diverged, failed and cancelled trials left out), the trials are grouped by the value of
h, and

    eta²(h) = SS_between / SS_total = Σ_g n_g (ȳ_g − ȳ)² / Σ_t (y_t − ȳ)²,

the fraction of the variance of y explained by the marginal means of h's values. It is 0 when
h makes no difference on average and 1 when the trials with equal h agree exactly.

Grouping: a hyperparameter with at most ``max_groups`` distinct values (every grid) is grouped by
value. One with more (a random search) is cut into ``max_groups`` equal-width bins — on a log10
scale for ``factors``, ``lr`` and ``reg`` (which are searched log-uniformly), linearly for the
rest — and never into more bins than ``n // 2`` so groups average at least two trials.

Caveats, said in the UI too: eta² is a marginal, one-at-a-time estimate. On a full grid the
eta² of the parameters plus the interactions' share sum to 1, so a small total means the
parameters act jointly. With g groups and n trials, pure noise already gives about
(g − 1)/(n − 1), so with few trials read it as a ranking, not a measurement.
"""
from __future__ import annotations

import math
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

__all__ = ["LOG_PARAMS", "eta_squared", "group_labels"]

#: Hyperparameters binned on a log scale.
LOG_PARAMS = ("factors", "lr", "reg")
#: Fewest usable trials for an estimate.
MIN_TRIALS = 3


def group_labels(values: Sequence[float], *, log: bool, max_groups: int = 4) -> np.ndarray:
    """Integer group of each value (by value, or by equal-width bin when there are many)."""
    x = np.asarray(values, dtype=np.float64)
    uniq = np.unique(x)
    if len(uniq) <= max_groups:
        return np.searchsorted(uniq, x)
    if log:
        if np.any(x <= 0):
            x = np.log10(x - x.min() + 1.0)
        else:
            x = np.log10(x)
    n_bins = max(2, min(max_groups, len(x) // 2))
    lo, hi = float(x.min()), float(x.max())
    edges = np.linspace(lo, hi, n_bins + 1)[1:-1]
    return np.searchsorted(edges, x, side="right")


def eta_squared(trials: pd.DataFrame, metric: str = "val_rmse",
                params: Iterable[str] = ("factors", "lr", "reg", "epochs"), *,
                log_params: Iterable[str] = LOG_PARAMS, max_groups: int = 4) -> dict[str, float]:
    """One-way ANOVA eta² of ``metric`` for each hyperparameter that varies.

    Parameters
    ----------
    trials : DataFrame
        One row per trial with the hyperparameter columns and ``metric``. Rows with a ``status``
        of 'diverged', 'failed' or 'cancelled', or a non-finite metric, are left out.
    metric : str
    params : iterable of str
        Hyperparameter columns; those with a single value in the usable trials are omitted.
    log_params : iterable of str
        Binned on a log scale when they must be binned (see the module docstring).
    max_groups : int
        Distinct values grouped as is up to this many; above, that many bins.

    Returns
    -------
    dict
        ``{param: eta²}`` in ``params`` order, each in [0, 1]; empty with fewer than
        :data:`MIN_TRIALS` usable trials or no variance in the metric.
    """
    if trials is None or len(trials) == 0 or metric not in trials:
        return {}
    frame = trials
    if "status" in frame:
        frame = frame[~frame["status"].isin(["diverged", "failed", "cancelled"])]
    y = pd.to_numeric(frame[metric], errors="coerce").to_numpy(dtype=np.float64)
    ok = np.isfinite(y)
    frame, y = frame[ok], y[ok]
    if len(y) < MIN_TRIALS:
        return {}
    ss_total = float(np.sum((y - y.mean()) ** 2))
    if not ss_total > 0 or not math.isfinite(ss_total):
        return {}
    log_params = set(log_params)
    out: dict[str, float] = {}
    for p in params:
        if p not in frame:
            continue
        x = pd.to_numeric(frame[p], errors="coerce").to_numpy(dtype=np.float64)
        if not np.all(np.isfinite(x)) or len(np.unique(x)) < 2:
            continue
        g = group_labels(x, log=p in log_params, max_groups=max_groups)
        ss_between = 0.0
        for label in np.unique(g):
            yg = y[g == label]
            ss_between += len(yg) * (yg.mean() - y.mean()) ** 2
        out[p] = float(min(max(ss_between / ss_total, 0.0), 1.0))
    return out

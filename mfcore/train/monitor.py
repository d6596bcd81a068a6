"""Ranking while training: precision@k, recall@k and NDCG@k of a fixed sample of validation users.

After every epoch the training loop asks :class:`RankingProbe` for the held-out-definition metrics
of a seeded sample of validation users (``docs/definitions.md``, "Ranking while training"). The
sample is drawn once per run, so the curve compares like with like. Validation users that also
have training rows are ranked with their trained vectors; when none has (a split by user), the
validation users are folded in from 80% of their items and scored on the rest
(:func:`mfcore.evaluate.folded.evaluate_folded`). Early stopping and sweeps watch the metric
named by the ``monitor`` hyperparameter.
"""
from __future__ import annotations

import math
import time

import numpy as np

from ..evaluate.folded import evaluate_folded
from ..evaluate.ranking import evaluate_ranking
from ..interactions import Interactions

#: What ``monitor`` may name: the validation RMSE or a ranking metric at ``eval_k``.
MONITORS = ("val_rmse", "precision", "recall", "ndcg")
#: Metrics where larger is better (the rest: smaller is better).
HIGHER_IS_BETTER = frozenset({"precision", "recall", "ndcg"})


def monitor_score(metric: str, value: float) -> float:
    """``value`` turned so that larger is better (NaN stays NaN)."""
    return value if metric in HIGHER_IS_BETTER else -value


class RankingProbe:
    """The ranking figures of one run's fixed validation sample.

    Parameters
    ----------
    train, val : Interactions
        The run's training and validation rows (same id maps).
    k : int
        Cut-off of precision, recall and NDCG.
    sample : int
        Validation users to rank (all of them when there are fewer).
    seed : int
        Seeds the draw of the sample.
    threads : int
        Threads of the ranking pass.
    """

    def __init__(self, train: Interactions, val: Interactions, *, k: int, sample: int,
                 seed: int, threads: int) -> None:
        self.k, self.threads, self.seed = int(k), max(1, int(threads)), int(seed)
        # Counted, not np.unique: that sorts a copy of every validation row's user.
        users = np.flatnonzero(val.user_counts())
        known = users[train.user_counts()[users] > 0]
        self.fold = not len(known)
        users = _draw(users if self.fold else known, sample, seed).astype(np.int64)
        # Only the sample's rows, once: every pass then builds its relevant and excluded sets
        # from these instead of from the whole training and validation data.
        # A flag per user, looked up per row: np.isin would copy the rows' users to intp first
        # (38M training rows: 0.45 GiB for a moment, the fit's peak at 48M rows).
        chosen = np.zeros(train.n_users, dtype=bool)
        chosen[users] = True
        self.train = train.subset(chosen[train.users])
        self.val = val.subset(chosen[val.users])
        self.users = users

    def __len__(self) -> int:
        return len(self.users)

    def measure(self, model, cancel=None) -> dict | None:
        """``precision``, ``recall``, ``ndcg`` and ``eval_seconds`` of ``model`` on the sample.

        None when ``cancel`` was set during the pass.
        """
        t0 = time.perf_counter()
        if not len(self.users):
            return {"precision": math.nan, "recall": math.nan, "ndcg": math.nan,
                    "eval_seconds": 0.0}
        if self.fold:
            res = evaluate_folded(model, self.train, self.val, k=self.k, seed=self.seed,
                                  cancel=cancel, threads=self.threads)
        else:
            # Scores are ranked a cache-sized tile at a time whatever the batch, so the probe
            # adds little to the training's peak with the evaluation's own batches.
            res = evaluate_ranking(model, self.train, self.val, k=self.k, subjects=self.users,
                                   cancel=cancel, threads=self.threads)
        if res.cancelled:
            return None
        return {"precision": float(res.precision), "recall": float(res.recall),
                "ndcg": float(res.ndcg), "eval_seconds": time.perf_counter() - t0}


def _draw(users: np.ndarray, sample: int, seed: int) -> np.ndarray:
    """A seeded sample of ``sample`` of ``users`` (all when there are fewer), sorted."""
    if len(users) <= sample:
        return users
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0x5EED]))
    return np.sort(rng.choice(users, size=int(sample), replace=False))

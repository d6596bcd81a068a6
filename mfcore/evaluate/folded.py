"""Ranking quality of users the model never saw: the by-user (by-playlist) protocol.

With a split by user (``split='user'``, the playlist notebook's 70/15/15), validation and test
users have no training rows. Each such user is scored the way a new listener is: a seeded
``visible_frac`` of its items (at least one) is folded in (:func:`mfcore.foldin.fold_in_many`,
the model's own fold-in), and the rest are the held-out relevant items; the visible items are
excluded from the candidates. Users with fewer than ``min_items`` items are skipped and counted.
"""
from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from ..foldin import fold_in_many
from ..interactions import Interactions
from ..model import FactorModel, as_factor_model
from .ranking import RankingResult, evaluate_ranking


def visible_and_hidden(heldout: Interactions, *, visible_frac: float = 0.8, seed: int = 0,
                       min_items: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Row masks of ``heldout``: the rows folded in and the rows held out.

    Every user with at least ``min_items`` rows gets at least one of each; other users' rows are
    in neither.
    """
    if not 0 < visible_frac < 1:
        raise ConfigError(f"visible_frac must be between 0 and 1 (exclusive), got {visible_frac}")
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 0xF01D]))
    order = np.lexsort((rng.random(len(heldout)), heldout.users))
    users = heldout.users[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    sizes = np.diff(np.r_[starts, len(users)])
    rank = np.arange(len(users)) - np.repeat(starts, sizes)
    n_visible = np.clip(np.round(sizes * visible_frac), 1, sizes - 1)
    eligible = np.repeat(sizes >= max(2, int(min_items)), sizes)
    visible = np.zeros(len(heldout), bool)
    hidden = np.zeros(len(heldout), bool)
    visible[order] = eligible & (rank < np.repeat(n_visible, sizes))
    hidden[order] = eligible & (rank >= np.repeat(n_visible, sizes))
    return visible, hidden


def folded_model(model, visible: Interactions) -> FactorModel:
    """A copy of ``model`` whose rows of the users in ``visible`` are folded in from it."""
    model = as_factor_model(model)
    users = np.unique(visible.users)
    indptr, items, values = visible.csr("user")
    sub = np.concatenate([[0], np.cumsum(np.diff(indptr)[users])]).astype(np.int64)
    picks = np.concatenate([items[indptr[u]:indptr[u + 1]] for u in users]) if len(users) \
        else np.zeros(0, np.int32)
    P, bu = fold_in_many(model, sub, picks)
    user_factors = model.user_factors_.copy()
    user_bias = model.user_bias_.copy()
    user_factors[users] = P
    user_bias[users] = bu
    return FactorModel(user_factors=user_factors, item_factors=model.item_factors_,
                       user_bias=user_bias, item_bias=model.item_bias_,
                       global_mean=model.global_mean_, params=model.params)


def evaluate_folded(model, train: Interactions, heldout: Interactions, *, k=10,
                    visible_frac: float = 0.8, seed: int = 0, min_items: int = 2,
                    sample: int | None = None, threads: int | None = None,
                    cancel=None) -> RankingResult:
    """Held-out precision/recall/NDCG@k of users folded in from part of their items.

    Parameters
    ----------
    model : FactorModel
    train : Interactions
        The training rows (excluded from the candidates of training users; the folded users
        have none).
    heldout : Interactions
        The validation (or test) users' rows, same id maps.
    k : int or sequence of int
        As for :func:`mfcore.evaluate.ranking.evaluate_ranking`.
    visible_frac, seed, min_items
        See :func:`visible_and_hidden`.
    sample : int, optional
        Evaluate a seeded sample of this many folded users.
    threads, cancel
        As for :func:`~mfcore.evaluate.ranking.evaluate_ranking`.

    Returns
    -------
    RankingResult
        Over the folded users; ``n_skipped`` counts those with too few items.
    """
    visible, hidden = visible_and_hidden(heldout, visible_frac=visible_frac, seed=seed,
                                         min_items=min_items)
    if not hidden.any():
        raise ConfigError(f"no held-out user has {max(2, min_items)} or more items to fold in "
                          f"and score")
    seen = heldout.subset(visible)
    folded = folded_model(model, seen)
    exclude = Interactions.from_codes(
        np.concatenate([train.users, seen.users]), np.concatenate([train.items, seen.items]),
        np.concatenate([train.values, seen.values]), train.user_ids, train.item_ids,
        source=train.source)
    subjects = np.unique(seen.users)
    result = evaluate_ranking(folded, exclude, heldout.subset(hidden), k=k, subjects=subjects,
                              sample=sample, seed=seed, threads=threads, cancel=cancel)
    result.n_skipped += int(len(np.unique(heldout.users)) - len(subjects))
    return result

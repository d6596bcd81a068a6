"""Synthetic listening data with a planted low-rank structure.

It is the app's built-in dataset and the tests' known-answer fixture: each user has a planted
taste vector, each song a planted profile, and both which songs a user plays and how often follow
``mu + b_u + b_i + u·v`` plus noise, so a fitted model can be checked against the truth.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..interactions import Interactions

SHAPES = ("msd", "ratings", "playlist")
_WORDS = ("Midnight Blue Electric Golden River Paper Neon Velvet Silent Wild Broken Summer Winter "
          "Crystal Satellite Echo Fire Ocean Dream Shadow Highway Honey Thunder Glass Lonely "
          "Rebel Sugar Diamond Ghost Heart Rain Northern Southern Wolf Lucky Secret").split()


@dataclass(frozen=True)
class PlantedTruth:
    """The generating parameters, for known-answer tests."""

    user_factors: np.ndarray
    item_factors: np.ndarray
    user_bias: np.ndarray
    item_bias: np.ndarray
    global_mean: float
    rank: int


#: Largest sizes generate() accepts (beyond them numpy cannot even allocate the arrays).
MAX_SIZES = {"n_users": 100_000_000, "n_items": 100_000_000, "n_interactions": 1_000_000_000,
             "rank": 4096}
MAX_FACTOR_CELLS = 1 << 30


def generate(n_users: int = 2000, n_items: int = 1000, n_interactions: int = 60_000, *,
             rank: int = 8, shape: str = "msd", noise: float = 0.2, popularity_exponent: float = 0.8,
             selectivity: int = 3,
             seed: int = 0, return_truth: bool = False):
    """Generate a dataset with planted low-rank structure and power-law popularity.

    Parameters
    ----------
    n_users, n_items : int
        Catalogue sizes (users or items that end up with no row are dropped from the ids).
    n_interactions : int
        Target number of distinct (user, item) rows; the result is within a few percent.
    rank : int
        Planted latent dimension.
    shape : {'msd', 'ratings', 'playlist'}
        'msd': play counts (integers >= 1, long-tailed) with MSD-like ids; 'ratings': continuous
        scores around 3.5, directly low-rank; 'playlist': implicit (all values 1).
    noise : float
        Standard deviation of the noise added to the planted score.
    popularity_exponent : float
        Zipf exponent of item popularity.
    selectivity : int
        Each user keeps the 1 in ``selectivity`` of its popularity-drawn candidates it likes
        best: larger values make taste count for more against popularity.
    seed : int
        Everything is determined by it.
    return_truth : bool
        Also return the :class:`PlantedTruth`.

    Returns
    -------
    Interactions or (Interactions, PlantedTruth)
    """
    if shape not in SHAPES:
        raise ConfigError(f"shape must be one of {SHAPES}, got {shape!r}")
    if min(n_users, n_items, n_interactions, rank) < 1:
        raise ConfigError("n_users, n_items, n_interactions and rank must all be >= 1")
    for name, v in (("n_users", n_users), ("n_items", n_items),
                    ("n_interactions", n_interactions), ("rank", rank)):
        if v > MAX_SIZES[name]:
            raise ConfigError(f"{name} must be at most {MAX_SIZES[name]:,}, got {v:,}")
    if (n_users + n_items) * rank > MAX_FACTOR_CELLS:
        raise ConfigError(f"(n_users + n_items) × rank = {(n_users + n_items) * rank:,} planted "
                          f"factor values; at most {MAX_FACTOR_CELLS:,}")
    if n_interactions > 0.5 * n_users * n_items:
        raise ConfigError("n_interactions must be at most half of n_users * n_items")
    rng = np.random.default_rng(seed)
    U = rng.normal(0, 1 / np.sqrt(rank), (n_users, rank)).astype(np.float32)
    V = rng.normal(0, 1, (n_items, rank)).astype(np.float32)
    bu = rng.normal(0, 0.3, n_users).astype(np.float32)
    bi = rng.normal(0, 0.5, n_items).astype(np.float32)
    mu = 0.0

    pop = (np.arange(1, n_items + 1, dtype=np.float64)) ** -popularity_exponent
    pop = pop[rng.permutation(n_items)]
    pop /= pop.sum()
    activity = rng.lognormal(0, 1, n_users)
    per_user = np.maximum(1, np.round(activity / activity.sum() * n_interactions)).astype(np.int64)
    per_user = np.minimum(per_user, n_items // 2)

    users, items = _plays(rng, U, V, bi, pop, per_user, int(selectivity))

    s = mu + bu[users] + bi[items] + np.einsum("ij,ij->i", U[users], V[items])
    s = s + rng.normal(0, noise, len(s))
    if shape == "ratings":
        values = 3.5 + s
    elif shape == "msd":
        values = np.maximum(1.0, np.round(np.exp(0.6 + 0.8 * s)))
    else:
        values = np.ones(len(s))

    if shape == "msd":
        raw = rng.bytes(20 * n_users)
        user_ids = np.array([raw[20 * k:20 * k + 20].hex() for k in range(n_users)], dtype=object)
        item_ids = np.array([f"SOSYN{i:013d}" for i in range(n_items)], dtype=object)
    elif shape == "playlist":
        user_ids = np.arange(n_users)
        item_ids = np.array([f"spotify:track:syn{i:09d}" for i in range(n_items)], dtype=object)
    else:
        user_ids = np.arange(1, n_users + 1)
        item_ids = np.arange(1, n_items + 1)

    data = Interactions.from_codes(users, items, values, user_ids, item_ids,
                                   source=f"synthetic:{shape}", implicit=shape == "playlist",
                                   item_meta=_metadata(item_ids, V, rng))
    data = _drop_unused(data)
    if return_truth:
        truth = PlantedTruth(U, V, bu, bi, mu, rank)
        return data, truth
    return data


def _metadata(item_ids: np.ndarray, V: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    """Fake titles, and artists as clusters in the planted space, so demos show names."""
    n_artists = max(1, min(200, len(item_ids) // 20))
    centroids = V[rng.choice(len(V), n_artists, replace=False)]
    artist = np.argmax(V @ centroids.T, axis=1)
    w = rng.integers(0, len(_WORDS), (len(item_ids), 2))
    titles = [f"{_WORDS[a]} {_WORDS[b]}" for a, b in w]
    return pd.DataFrame({"title": titles, "artist": [f"Synth Artist {a}" for a in artist]},
                        index=pd.Index(item_ids, name="item_id"))


def _drop_unused(data: Interactions) -> Interactions:
    """Re-index so that every user and item id has at least one row."""
    used_u = np.unique(data.users)
    used_i = np.unique(data.items)
    if len(used_u) == data.n_users and len(used_i) == data.n_items:
        return data
    umap = np.full(data.n_users, -1, np.int32)
    umap[used_u] = np.arange(len(used_u), dtype=np.int32)
    imap = np.full(data.n_items, -1, np.int32)
    imap[used_i] = np.arange(len(used_i), dtype=np.int32)
    item_ids = data.item_ids[used_i]
    meta = data.item_meta.loc[item_ids] if data.item_meta is not None else None
    return Interactions(umap[data.users], imap[data.items], data.values, data.user_ids[used_u],
                        item_ids, item_meta=meta, implicit=data.implicit, source=data.source)


def _plays(rng, U, V, bi, pop, per_user, selectivity):
    """Who played what: candidates drawn by popularity, each user keeping the ``per_user`` it
    likes best (planted affinity plus Gumbel noise: a Gumbel top-k), so taste shapes what is
    played."""
    n_users, n_items = len(U), len(V)
    n_cand = selectivity * per_user
    cand_user = np.repeat(np.arange(n_users, dtype=np.int64), n_cand)
    cand_item = rng.choice(n_items, size=len(cand_user), p=pop)
    affinity = np.einsum("ij,ij->i", U[cand_user], V[cand_item]) + bi[cand_item]
    score = 2.0 * affinity + rng.gumbel(size=len(cand_user))
    order = np.lexsort((-score, cand_user))
    cand_user, cand_item = cand_user[order], cand_item[order]
    key = cand_user * n_items + cand_item
    _, first = np.unique(key, return_index=True)
    first.sort()
    cand_user, cand_item = cand_user[first], cand_item[first]
    rank_in_user = np.arange(len(cand_user)) - np.searchsorted(cand_user, cand_user)
    keep = rank_in_user < per_user[cand_user]
    users, items = cand_user[keep], cand_item[keep]
    return users, items

"""Ranking metrics: precision@k, recall@k, NDCG@k and R-precision, in both definitions and both
directions, exactly as ``docs/definitions.md`` states them.

Definitions (songs direction; the fans direction swaps users and items)
------------------------------------------------------------------------
- Ranking: items are ranked by b_i + p_u·q_i; a song's fans (users) by b_u + p_u·q_i. Ties are
  broken by the lower index. k larger than a subject's candidates is clamped to them, and the
  clamped k is the precision denominator.
- **Held-out**: R = the subject's held-out items (only those with value >= ``threshold`` when
  given); candidates = all items except the subject's training items; T = top-k candidates.
  precision = |R ∩ T| / k, recall = |R ∩ T| / |R|.
- **Favourites** (the MSD notebook's): R = the subject's k most-played items in the whole data
  (``full_data``, or train + held-out; ties in play count broken by the lower index), fewer if it
  has fewer; candidates = all items, nothing excluded. It measures how well the model reproduces
  what it was fitted on.
- Subjects with |R| = 0 (or with no candidate at all) are skipped and counted; means are over the
  rest, and per-subject values are returned.
- NDCG@k = Σ_{j<=k} rel_j / log2(j + 1) over T in rank order, divided by the same sum for the
  ideal order of R (binary relevance, min(|R|, k) ones).
- R-precision = |R ∩ top-|R| candidates| / |R| (|R| clamped to the candidates).
- Coverage = fraction of all candidates (items, or users for fans) appearing in any evaluated
  top-k.

Implementation
--------------
One pass serves every k: ``k`` may be a list, and the top max(k) of each subject is selected once
(:mod:`mfcore.evaluate.rank_kernel`), hits being counted at each k on the way; ``result.curve``
then holds the means at every k and ``result.at(k)`` the full result at one k, equal to a call
with that k alone. A batch holds as many subjects as :data:`SCORE_BUDGET_BYTES` (256 MB) of
float32 scores would, unless ``batch_size`` is given; its scores are computed and ranked one
tile of about :data:`~mfcore.evaluate.rank_kernel.TILE_BYTES` (8 MiB) at a time, so that is the
memory they take. (Fewer subjects per batch make the products slower: each product reads all of
the candidate factors again, 98 MB on the MSD shape, where the products of 64 MB batches took
1.6x the time of 256 MB ones: 2.29 s against 1.40 s for 4000 users.)

``cancel`` (a ``threading.Event``) is checked between batches: when set, the evaluation stops and
a *partial* result is returned with ``cancelled=True`` (its means cover only the subjects done).
``progress(fraction, message)`` is called after every batch.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import ConfigError
from ..interactions import Interactions
from ..model import FactorModel, as_factor_model
from .rank_kernel import Tops, rank_batches
from .relevance import check_same_maps, relevance

DEFINITIONS = ("heldout", "favourites")
DIRECTIONS = ("users", "items")
#: Subjects per batch when ``batch_size`` is not given: as many as this many bytes of float32
#: scores would hold (the scores are held one tile at a time, rank_kernel.TILE_BYTES).
SCORE_BUDGET_BYTES = 256 << 20
#: z for a two-sided 95% normal interval.
Z95 = 1.959963984540054
#: Columns of :attr:`RankingResult.curve`.
CURVE_COLUMNS = ("k", "precision", "recall", "ndcg", "r_precision", "coverage")

DEFINITION_TEXT = {
    "heldout": ("Held-out: relevant = the subject's held-out items{thr}; candidates = all "
                "{cands} except the subject's training {cands}; precision@k = |R ∩ top-k| / k, "
                "recall@k = |R ∩ top-k| / |R|."),
    "favourites": ("Favourites (MSD notebook): relevant = the subject's k most-played {cands} "
                   "in the whole data; candidates = all {cands}, nothing excluded. Measures how "
                   "well the model reproduces what it was fitted on, not generalisation."),
}


@dataclass
class RankingResult:
    """Ranking metrics of one evaluation, at one k (and, through :meth:`at`, at the others).

    Attributes
    ----------
    k : int
        Requested k (per-subject clamped values are in ``per_subject['k']``); the largest k
        when several were asked.
    definition, direction : str
    precision, recall, ndcg, r_precision : float
        Means over the evaluated subjects (NaN when none).
    per_subject : DataFrame
        Columns ``subject`` (dense index), ``subject_id`` (raw id), ``precision``, ``recall``,
        ``ndcg``, ``r_precision``, ``n_relevant``, ``hits``, ``k``.
    n_evaluated : int
    n_skipped : int
        Subjects of the population without relevant items (or without candidates).
    coverage : float
        Fraction of all candidates appearing in any evaluated top-k.
    seconds : float
        Of the whole pass (every k).
    precision_ci95, recall_ci95 : (float, float) or None
        Normal-approximation 95% intervals of the means when ``sample`` was used: mean ± 1.96 s/√n
        with the finite population correction, clipped to [0, 1].
    n_population : int
        Eligible subjects the evaluation (or the sample) was drawn from.
    sampled, cancelled : bool
    threshold : float or None
    batch_size : int
    description : str
        The definition in words, to show next to the figure.
    info : dict
        ``n_candidates``, ``threads``, and ``rank_seconds``: the part of ``seconds`` spent
        ranking the subjects (the rest, building the relevant sets, does not grow with them).
    top : int32 ndarray (n_evaluated, min(k, n_candidates))
        Each evaluated subject's top-k candidates, best first, -1 where k was clamped; row j
        belongs to ``per_subject['subject'][j]``.
    curve : DataFrame
        One row per k asked, columns ``k``, ``precision``, ``recall``, ``ndcg``,
        ``r_precision``, ``coverage`` (the means at each k, over the same subjects).
    """

    k: int
    definition: str
    direction: str
    precision: float
    recall: float
    ndcg: float
    r_precision: float
    per_subject: pd.DataFrame
    n_evaluated: int
    n_skipped: int
    coverage: float
    seconds: float
    precision_ci95: tuple[float, float] | None = None
    recall_ci95: tuple[float, float] | None = None
    n_population: int = 0
    sampled: bool = False
    cancelled: bool = False
    threshold: float | None = None
    batch_size: int = 0
    description: str = ""
    top: np.ndarray | None = None
    info: dict = field(default_factory=dict)
    curve: pd.DataFrame | None = None
    by_k: dict = field(default_factory=dict, repr=False, compare=False)

    def at(self, k: int) -> "RankingResult":
        """The result at cut-off ``k``, one of the ks this evaluation was asked for."""
        if k not in self.by_k:
            raise ConfigError(f"k = {k!r} was not evaluated; evaluated: {sorted(self.by_k)}")
        return self.by_k[k]

    def summary(self) -> dict:
        """The scalar fields as a plain dict (for tables, JSON and the run history)."""
        return {f: getattr(self, f) for f in (
            "k", "definition", "direction", "precision", "recall", "ndcg", "r_precision",
            "n_evaluated", "n_skipped", "coverage", "seconds", "precision_ci95", "recall_ci95",
            "n_population", "sampled", "cancelled", "threshold", "batch_size")}


def popularity_model(train: Interactions) -> FactorModel:
    """A model ranking every user's candidates by item popularity, every song's by user activity.

    It scores ``log(1 + training count)`` through the biases with zero factors, so it goes
    wherever a fitted model does (:func:`evaluate_ranking`, :mod:`mfcore.recommend`): the
    reference any recommender has to beat on ranking.
    """
    return FactorModel(
        user_factors=np.zeros((train.n_users, 1), np.float32),
        item_factors=np.zeros((train.n_items, 1), np.float32),
        user_bias=np.log1p(train.user_counts()), item_bias=np.log1p(train.item_counts()),
        params={"biased": True, "model": "popularity"}, user_ids=train.user_ids,
        item_ids=train.item_ids)


def default_threads() -> int:
    """Threads of a ranking evaluation (the CPUs this process may use)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def evaluate_ranking(model, train: Interactions, heldout: Interactions | None = None, *,
                     k=10, definition: str = "heldout", direction: str = "users",
                     subjects=None, sample: int | None = None, seed: int = 0,
                     threshold: float | None = None, full_data: Interactions | None = None,
                     batch_size: int | None = None, progress=None, cancel=None,
                     threads: int | None = None) -> RankingResult:
    """precision@k, recall@k, NDCG@k, R-precision and coverage of a factor model.

    Parameters
    ----------
    model : FactorModel (or anything with its fitted attributes)
    train : Interactions
        The training rows (excluded from the candidates in the held-out definition).
    heldout : Interactions, optional
        Held-out rows (same id maps). Required for ``definition='heldout'``; for favourites it is
        added to ``train`` to form the whole data unless ``full_data`` is given.
    k : int or sequence of int
        Cut-off (>= 1), clamped per subject to its number of candidates. Several cut-offs are
        evaluated in one pass: the result is the one at the largest, with ``curve`` and
        ``at(k)`` for each.
    definition : {'heldout', 'favourites'}
        See the module docstring.
    direction : {'users', 'items'}
        'users': each user's top songs; 'items': each song's top fans (users ranked by
        b_u + p_u·q_i).
    subjects : array-like of int, optional
        Dense indices of the users (or items) to evaluate; all by default. Evaluated in increasing
        order, duplicates removed.
    sample, seed : int, optional
        Evaluate a random sample (seeded by ``seed``) of this many eligible subjects (those with
        |R| > 0) and report 95% confidence intervals of the mean precision and recall.
    threshold : float, optional
        Held-out definition only: relevant items need a held-out value >= threshold.
    full_data : Interactions, optional
        Favourites definition: the whole data (default train + heldout). Ignored by the
        held-out definition (so a caller may always pass it).
    batch_size : int, optional
        Subjects per score product (default: at most as many as :data:`SCORE_BUDGET_BYTES` of
        scores would hold, in a multiple of ``threads`` batches; the scores themselves are held
        one tile at a time).
    progress : callable(fraction, message), optional
    cancel : threading.Event, optional
        Checked between batches; when set a partial result with ``cancelled=True`` is returned.
    threads : int, optional
        Batches scored and ranked at once, one per thread, each with single-threaded BLAS
        (default: the usable CPUs); BLAS stays single-threaded process-wide meanwhile.

    Returns
    -------
    RankingResult

    Raises
    ------
    ConfigError
        Bad options, missing ``heldout``, id maps that differ, or a model of another size.
    """
    t0 = time.perf_counter()
    ks, sample, batch_size, threads, threshold = _check_options(
        k, definition, direction, sample, batch_size, threads, threshold)
    A, B, cand_bias = _subject_side(model, train, heldout, direction)
    by, cands = ("user", "items") if direction == "users" else ("item", "users")
    rel, excl, n_cands = relevance(definition, direction, train, heldout, full_data, threshold,
                                   min(ks[-1], len(B)))
    n_rel = np.diff(rel[0])
    population = _population(subjects, len(A), by)
    eligible, chosen, sampled = _choose(population, n_rel, n_cands, sample, seed)
    kk, mm, n_rel_k = _cutoffs(definition, ks, n_rel[chosen], n_cands[chosen])
    b = max(1, min(batch_size or _default_batch(len(chosen), len(B), threads), len(chosen)))
    if progress is not None:
        progress(0.0, f"ranking {len(chosen)} {by}s against {len(B)} {cands}")
    t_rank = time.perf_counter()
    tops = rank_batches(A, B, cand_bias, chosen, excl, rel, np.asarray(ks, np.int64), kk, mm,
                        max(1, min(ks[-1], len(B))), b, threads, progress, cancel, f"{by}s")
    t_rank = time.perf_counter() - t_rank
    thr = f" with value >= {threshold:g}" if threshold is not None else ""
    common = dict(
        definition=definition, direction=direction, n_skipped=int(len(population) - len(eligible)),
        seconds=time.perf_counter() - t0, n_population=len(eligible), sampled=sampled,
        cancelled=tops.cancelled, threshold=threshold, batch_size=b,
        description=DEFINITION_TEXT[definition].format(thr=thr, cands=cands),
        info={"n_candidates": len(B), "threads": threads, "rank_seconds": t_rank})
    ids = train.user_ids if direction == "users" else train.item_ids
    return _results(tops, ks, chosen, ids, n_rel_k, kk, mm, len(B), common)


# ---- steps ----------------------------------------------------------------------------------
def _check_options(k, definition, direction, sample, batch_size, threads, threshold):
    """Checked options: (sorted unique ks, sample, batch_size, threads, threshold)."""
    if definition not in DEFINITIONS:
        raise ConfigError(f"definition must be one of {DEFINITIONS}, got {definition!r}")
    if direction not in DIRECTIONS:
        raise ConfigError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if isinstance(k, (list, tuple, np.ndarray, range)):
        if len(k) == 0:
            raise ConfigError("k must be an integer >= 1 or a non-empty list of them, got []")
        ks = sorted({_as_int("k", x, 1) for x in k})
    else:
        ks = [_as_int("k", k, 1)]
    if sample is not None:
        sample = _as_int("sample", sample, 1)
    if batch_size is not None:
        batch_size = _as_int("batch_size", batch_size, 1)
    threads = default_threads() if threads is None else _as_int("threads", threads, 1)
    if threshold is not None:
        if definition != "heldout":
            raise ConfigError("threshold applies only to the held-out definition")
        threshold = float(threshold)
    return ks, sample, batch_size, threads, threshold


def _subject_side(model, train: Interactions, heldout, direction: str):
    """(subject factors, candidate factors, candidate bias) of ``model``, checked against the data."""
    m = as_factor_model(model).parts()
    if len(m.P) != train.n_users or len(m.Q) != train.n_items:
        raise ConfigError(f"the model has {len(m.P)} users × {len(m.Q)} items but the data has "
                          f"{train.n_users} × {train.n_items}; was it trained on this dataset?")
    if heldout is not None:
        check_same_maps("heldout", heldout, train)
    A, B, cand_bias = m.side(direction)
    return A, B, np.ascontiguousarray(cand_bias, dtype=np.float32)


def _choose(population, n_rel, n_cands, sample: int | None, seed: int):
    """(eligible subjects, those evaluated, sampled?): eligible = |R| > 0 and some candidate."""
    eligible = population[(n_rel[population] > 0) & (n_cands[population] > 0)]
    if sample is None or sample >= len(eligible):
        return eligible, eligible, False
    rng = np.random.default_rng(seed)
    return eligible, np.sort(rng.choice(eligible, size=sample, replace=False)), True


def _cutoffs(definition: str, ks: list[int], n_rel, n_cands):
    """Per evaluated subject (rows) and k (columns): clamped k, clamped |R|, and |R| itself
    (the same at every k when held out; the k most played for favourites)."""
    ks_row = np.asarray(ks, dtype=np.int64)[None, :]
    n_rel_k = (np.repeat(n_rel[:, None], len(ks), axis=1) if definition == "heldout"
               else np.minimum(n_rel[:, None], ks_row))
    kk = np.minimum(ks_row, n_cands[:, None]).astype(np.int64)
    mm = np.minimum(n_rel_k, n_cands[:, None]).astype(np.int64)
    return kk, mm, n_rel_k


def _default_batch(n: int, n_cands: int, threads: int) -> int:
    """Subjects per batch: at most what :data:`SCORE_BUDGET_BYTES` of scores would hold, in a
    number of batches that is a multiple of ``threads`` (batches run one per thread, so none
    waits alone at the end)."""
    n_batches = -(-n // max(1, SCORE_BUDGET_BYTES // (4 * max(n_cands, 1))))
    n_batches = -(-n_batches // threads) * threads
    return -(-n // max(n_batches, 1))


def _population(subjects, n_subj: int, by: str) -> np.ndarray:
    if subjects is None:
        return np.arange(n_subj, dtype=np.int64)
    population = np.unique(np.asarray(subjects, dtype=np.int64).ravel())
    if len(population) and (population[0] < 0 or population[-1] >= n_subj):
        raise ConfigError(f"subjects must be {by} indices in [0, {n_subj}), got "
                          f"{int(population[0])}..{int(population[-1])}")
    return population


def _results(t: Tops, ks: list[int], chosen, ids, n_rel_k, kk, mm, n_cand: int,
             common: dict) -> RankingResult:
    """One :class:`RankingResult` per k, sharing the curve; the largest k's is returned."""
    done = t.done
    subj = chosen[:done]
    ideal = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(2, t.top.shape[1] + 2)))])
    by_k: dict[int, RankingResult] = {}
    for c, k in enumerate(ks):
        kk_d, mm_d, nrel_d, hits = kk[:done, c], mm[:done, c], n_rel_k[:done, c], t.hits[:done, c]
        precision = hits / kk_d
        recall = hits / nrel_d
        ndcg = t.dcg[:done, c] / ideal[np.minimum(nrel_d, kk_d)]
        r_prec = t.hits_m[:done, c] / mm_d
        per_subject = pd.DataFrame({
            "subject": subj, "subject_id": ids[subj], "precision": precision, "recall": recall,
            "ndcg": ndcg, "r_precision": r_prec, "n_relevant": nrel_d, "hits": hits, "k": kk_d})
        top = t.top[:done, :max(1, min(k, n_cand))]
        ci = common["sampled"]
        by_k[k] = RankingResult(
            k=k, precision=_mean(precision), recall=_mean(recall), ndcg=_mean(ndcg),
            r_precision=_mean(r_prec), per_subject=per_subject, n_evaluated=done,
            coverage=float(len(np.unique(top[top >= 0])) / n_cand) if done else 0.0,
            precision_ci95=_ci95(precision, common["n_population"]) if ci else None,
            recall_ci95=_ci95(recall, common["n_population"]) if ci else None,
            top=top, **common)
    curve = pd.DataFrame([{c: getattr(r, c) for c in CURVE_COLUMNS} for r in by_k.values()],
                         columns=list(CURVE_COLUMNS))
    for r in by_k.values():
        r.curve, r.by_k = curve, by_k
    return by_k[ks[-1]]


# ---- helpers --------------------------------------------------------------------------------
def _mean(x: np.ndarray) -> float:
    return float(np.mean(x)) if len(x) else float("nan")


def _ci95(x: np.ndarray, n_population: int) -> tuple[float, float]:
    n = len(x)
    mean = _mean(x)
    if n < 2:
        return (float("nan"), float("nan"))
    se = float(np.std(x, ddof=1)) / math.sqrt(n)
    if n_population > 1:
        se *= math.sqrt(max(n_population - n, 0) / (n_population - 1))
    # precision and recall lie in [0, 1]; the normal interval is clipped to it.
    return (max(0.0, mean - Z95 * se), min(1.0, mean + Z95 * se))


def _as_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)

"""How long an evaluation of every user (or song) will take, from a short timed sample.

A full ranking pass over a million users takes minutes; the dashboard and the command line say
how long before they start one. The estimate times :func:`evaluate_ranking` on a seeded sample
of subjects (after a first small call, so that loading the compiled kernel is not counted) and
scales the ranking part by the number of subjects the full run would rank. Building the
relevant sets costs the same for a sample as for everyone (seconds on tens of millions of rows),
so it is counted once, not scaled.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

from .ranking import evaluate_ranking


@dataclass(frozen=True)
class Estimate:
    """``seconds`` for ``n_subjects`` subjects, from ``n_timed`` of them ranked in ``timed``
    (of which ``setup`` seconds were spent on what does not grow with the subjects)."""

    seconds: float
    n_subjects: int
    n_timed: int
    timed: float
    setup: float = 0.0


def estimate_seconds(model, train, heldout=None, *, k=10, sample: int = 300,
                     **options) -> Estimate:
    """Estimate the wall time of ``evaluate_ranking(model, train, heldout, k=k, **options)``.

    Parameters
    ----------
    model, train, heldout, k, options
        As for :func:`mfcore.evaluate.ranking.evaluate_ranking` (without ``sample``).
    sample : int
        Subjects ranked to time the pass.

    Returns
    -------
    Estimate
        ``seconds`` = ``setup`` + (``timed`` - ``setup``) × ``n_subjects`` / ``n_timed``.
    """
    options.pop("sample", None)
    evaluate_ranking(model, train, heldout, k=k, sample=min(sample, 20), **options)  # warm
    t0 = time.perf_counter()
    probe = evaluate_ranking(model, train, heldout, k=k, sample=sample, **options)
    timed = time.perf_counter() - t0
    n_timed = max(probe.n_evaluated, 1)
    n_all = probe.n_population
    ranking = min(probe.info.get("rank_seconds", timed), timed)
    setup = timed - ranking
    return Estimate(seconds=setup + ranking * n_all / n_timed, n_subjects=n_all,
                    n_timed=n_timed, timed=timed, setup=setup)

"""Numbers and errors as the pages say them (no Streamlit import: testable on their own)."""
from __future__ import annotations

import math

from mfcore import values
from mfcore.errors import MFError


def human_bytes(n: float) -> str:
    """Memory sizes, in powers of 1024 (:func:`mfcore.values.human_bytes`)."""
    return values.human_bytes(n, base=1024)


def human_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "–"
    s = max(0.0, float(s))
    if s < 1:
        return f"{s * 1000:.0f} ms"
    if s < 60:
        return f"{s:.1f} s"
    m, sec = divmod(int(round(s)), 60)
    if m < 60:
        return f"{m} min {sec:02d} s"
    h, m = divmod(m, 60)
    return f"{h} h {m:02d} min"


def human_rate(r: float | None) -> str:
    if r is None or not math.isfinite(r):
        return "–"
    for unit, div in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if r >= div:
            return f"{r / div:.2f} {unit}"
    return f"{r:.0f}"


def training_eta(history: list, total_epochs: int) -> float | None:
    """Seconds left, from the mean duration of the epochs so far."""
    if not history:
        return None
    done = len(history)
    per_epoch = sum(h.seconds for h in history) / done
    return max(0, total_epochs - done) * per_epoch


def ranking_share(history: list) -> float | None:
    """The mean share of an epoch's time that the ranking measured after it took (None when
    no epoch was ranked)."""
    shares = [h.eval_seconds / max(h.seconds, 1e-9) for h in history
              if math.isfinite(h.eval_seconds)]
    return sum(shares) / len(shares) if shares else None


def error_text(exc: BaseException) -> str:
    """The message to show for an exception: MFError messages as they are, others typed."""
    if isinstance(exc, MFError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def failure_text(exc: BaseException, doing: str) -> str:
    """An MFError's own message (it explains itself); any other exception after ``doing``
    (e.g. "Could not start training"), typed. Never a traceback."""
    return error_text(exc) if isinstance(exc, MFError) else f"{doing}: {error_text(exc)}"


def plural(n: int, one: str, many: str | None = None) -> str:
    """"1 user", "2 users", "1,000 users" (``many`` when the plural is not ``one`` + s)."""
    return f"{n:,} {one if n == 1 else (many or one + 's')}"


#: What a dataset's values, rows and items are called, by kind of data
#: (:attr:`mfcore.interactions.Interactions.kind`).
NOUNS = {
    "ratings": dict(values="ratings", value="rating", fans="raters", fan="rater",
                    items="items", item="item"),
    "counts": dict(values="plays", value="play count", fans="listeners", fan="listener",
                   items="songs", item="song"),
    "binary": dict(values="playlist entries", value="value", fans="playlists", fan="playlist",
                   items="tracks", item="track"),
}


def nouns(kind: str) -> dict:
    """The words for this kind of data (see :data:`NOUNS`; play counts when unknown)."""
    return NOUNS.get(kind, NOUNS["counts"])


def epoch_progress(snap) -> str:
    """"epoch N of M" for a training job's snapshot (the sidebar and the Home page say it
    alike)."""
    return f"epoch {len(snap.history)} of {snap.info.get('total_epochs', 0)}"


def rmse_applies(params: dict, implicit: bool) -> bool:
    """Whether RMSE says anything about a model: SGD on explicit values (ratings, counts).

    ALS predicts preferences, not values; on presence-only targets (playlists, or any data made
    binary by the transform) every held-out value is 1, so RMSE only measures that constant.
    """
    return params.get("solver") != "als" and not implicit


def kept_epoch(history: list, status: str | None, best_epoch: int | None):
    """The statistics of the epoch whose weights a model holds: the best one after early
    stopping (it was restored), else the last; None without epochs."""
    if not history:
        return None
    if status == "early_stopped" and best_epoch:
        return next((h for h in history if h.epoch == best_epoch), history[-1])
    return history[-1]


def headline(params: dict, implicit: bool, stats) -> tuple[str, float | None]:
    """The one validation figure that sums a model up: validation RMSE where RMSE applies
    (:func:`rmse_applies`), else NDCG@k of the ranking measured while training."""
    if rmse_applies(params, implicit):
        return "validation RMSE", getattr(stats, "val_rmse", None)
    return f"validation NDCG@{params.get('eval_k') or 10}", getattr(stats, "ndcg", None)


def ranking_advice(params: dict) -> str:
    """What to try when a model ranks below popularity, for the way it was trained (never
    what it already did)."""
    if params.get("solver") == "als":
        return ("Try more factors or iterations, or another λ or α (the Tune page searches "
                "them).")
    if not params.get("neg_ratio"):
        return ("It was fitted on observed values only, so it never learnt *which* songs get "
                "played: train with the ALS solver, or SGD with implicit negatives (ρ > 0).")
    return (f"It already sampled ρ = {params['neg_ratio']:g} negatives per pair: try more "
            "epochs or another γ or λ, or the ALS solver, the default for play counts and "
            "playlists.")

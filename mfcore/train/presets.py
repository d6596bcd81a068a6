"""Hyperparameter defaults by kind of data: the one place MFModel, the CLI and the dashboard read.

The kind of data (:attr:`mfcore.interactions.Interactions.kind`) picks the solver and the
defaults of the hyperparameters left unset:

- **ratings** (MovieLens stars): biased SGD on the ratings with Surprise's ``SVD`` defaults
  (k = 100, 20 epochs, γ 0.005, λ 0.02, init N(0, 0.1²)), which reproduce the MovieLens 100k
  reference of ``docs/definitions.md`` (RMSE 0.934), so a figure from this tool can be compared
  with Surprise's as is. Early stopping watches the validation RMSE.
- **counts** (MSD play counts) and **binary** (playlists): implicit ALS (``docs/definitions.md``,
  Hu, Koren & Volinsky 2008). Play counts say what people listened to, not how much they liked
  it; what users want from them is a ranking, and trained by SGD on the counts as if they were
  ratings the model ranked below popularity (P@10 0.008 against 0.167 on the built-in data).
  The values below were chosen on the MPD and MSD samples (``benchmarks/bench_quality.py``).
  Early stopping watches NDCG@k on a fixed validation sample.

SGD chosen by hand regresses ratings and play counts with the ratings values, and on playlists
gets the values tuned on the MPD sample: unbiased, γ 0.03, λ 0.01, ρ 10 uniform negatives (with
biases, b_i learns popularity faster than the factors learn anything; ρ = 0 cannot rank at all).

:data:`RECIPES` are the two research notebooks this tool started from, one click away.
"""
from __future__ import annotations

KINDS = ("ratings", "counts", "binary")
SOLVERS = ("sgd", "als")

#: Hyperparameters whose default depends on neither the data nor the solver.
COMMON: dict = dict(factors=100, seed=0, threads=1, early_stopping=False, patience=3, eval_k=10,
                    eval_sample=2000, monitor="auto")
#: The solver each kind of data trains with unless one is named.
SOLVER_BY_KIND: dict = {"ratings": "sgd", "counts": "als", "binary": "als"}
#: SGD on ratings or play counts (Surprise's SVD; the MSD notebook regressed the counts).
SGD_EXPLICIT: dict = dict(epochs=20, lr=0.005, reg=0.02, init_std=0.1, biased=True,
                          neg_ratio=0.0, neg_sampling="uniform")
#: SGD on playlists (presence only).
SGD_IMPLICIT: dict = dict(epochs=20, lr=0.03, reg=0.01, init_std=0.1, biased=False,
                          neg_ratio=10.0, neg_sampling="uniform")
#: Implicit ALS (no biases; every unobserved pair counts, so no sampled negatives).
ALS: dict = dict(epochs=15, reg=0.1, biased=False, alpha=10.0, confidence="linear", cg_steps=3,
                 solve="cg")
#: Hyperparameters only one solver reads (None in the other's parameters).
ONLY = {"sgd": ("lr", "init_std", "neg_ratio", "neg_sampling"),
        "als": ("alpha", "confidence", "cg_steps", "solve")}
#: Every hyperparameter an estimator takes.
HYPERPARAMETERS = frozenset(COMMON) | frozenset(SGD_EXPLICIT) | frozenset(ALS) | {"solver"}
#: The monitor "auto" becomes, by kind of data.
MONITOR_BY_KIND: dict = {"ratings": "val_rmse", "counts": "ndcg", "binary": "ndcg"}

#: The two source notebooks' set-ups: data preparation and hyperparameters, named plainly.
RECIPES: dict = {
    "msd-notebook": dict(
        label="MSD notebook: SGD on standardised counts, 2/3 random split, RMSE",
        prepare=dict(transform="standardize", split="random", val_frac=1 / 3),
        params=dict(solver="sgd", biased=True, lr=0.005, reg=0.02, neg_ratio=0.0,
                    monitor="val_rmse")),
    "playlist-notebook": dict(
        label="Playlist notebook: all-ones targets, 70/15/15 by playlist, fold-in",
        prepare=dict(transform="binary", split="user", val_frac=0.15, test_frac=0.15),
        params=dict(solver="sgd", biased=False, lr=0.03, reg=0.01, neg_ratio=10.0,
                    monitor="ndcg")),
}


def solver_table(kind: str, solver: str) -> dict:
    """The solver-dependent defaults for this kind of data and solver."""
    if solver == "als":
        return ALS
    return SGD_IMPLICIT if kind == "binary" else SGD_EXPLICIT


def defaults(kind: str, solver: str | None = None) -> dict:
    """Every hyperparameter at its default for this kind of data and solver (a fresh dict).

    ``solver`` is the kind's unless given; ``monitor`` is resolved ('auto' becomes the kind's
    metric); the other solver's own hyperparameters are None.
    """
    solver = solver or SOLVER_BY_KIND[kind]
    out = {**COMMON, **solver_table(kind, solver), "solver": solver,
           "monitor": MONITOR_BY_KIND[kind]}
    other = "sgd" if solver == "als" else "als"
    out.update({name: None for name in ONLY[other]})
    return out


def form_defaults(kind: str, solver: str | None = None) -> dict:
    """:func:`defaults`, with the other solver's own hyperparameters at *their* defaults too: a
    form shows a value for every field whichever solver is picked."""
    solver = solver or SOLVER_BY_KIND[kind]
    other = defaults(kind, "sgd" if solver == "als" else "als")
    return {k: (other[k] if v is None else v) for k, v in defaults(kind, solver).items()}


def for_solver(params: dict) -> dict:
    """``params`` with the hyperparameters its solver does not read set to None."""
    other = "sgd" if params.get("solver") == "als" else "als"
    return {**params, **{name: None for name in ONLY[other]}}


def resolve_params(params: dict, kind: str) -> dict:
    """``params`` with every ``None`` (and ``monitor='auto'``) replaced by the default for this
    kind of data and the solver (given, or the kind's). A value given is always used as given;
    the other solver's own hyperparameters become None."""
    solver = params.get("solver") or SOLVER_BY_KIND[kind]
    table = defaults(kind, solver)
    out = for_solver({k: (table[k] if v is None and k in table else v)
                      for k, v in params.items()} | {"solver": solver})
    if out.get("monitor") in (None, "auto"):
        out["monitor"] = MONITOR_BY_KIND[kind]
    for name in ("neg_ratio", "alpha", "lr", "reg", "init_std"):
        if out.get(name) is not None:
            out[name] = float(out[name])
    return out

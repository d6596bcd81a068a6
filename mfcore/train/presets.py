"""Hyperparameter defaults by kind of data: the one place MFModel, the CLI and the dashboard read.

The kind of data (:attr:`mfcore.interactions.Interactions.kind`) picks the solver and the
defaults of the hyperparameters left unset:

- **ratings** (MovieLens stars): biased SGD on the ratings with Surprise's ``SVD`` defaults
  (k = 100, 20 epochs, γ 0.005, λ 0.02, init N(0, 0.1²)), which reproduce the MovieLens 100k
  reference of ``docs/definitions.md`` (RMSE 0.934), so a figure from this tool can be compared
  with Surprise's as is. Early stopping watches the validation RMSE.
- **counts** (MSD play counts) and **binary** (playlists): implicit ALS (``docs/definitions.md``,
  Hu, Koren & Volinsky 2008), k = 100, 15 iterations, 3 CG steps, confidence 'linear'. Play
  counts say what people listened to, not how much they liked it; what users want from them is a
  ranking, and trained by SGD on the counts as if they were ratings the model ranks far below
  popularity. Early stopping watches NDCG@k on a fixed validation sample.

  - playlists (:data:`ALS_BINARY`): λ 0.1, α 10 (c = 1 + α = 11). On the MPD sample this is a
    plateau: λ 0.1-30 with α 5-30 moves P@10 by at most 0.002, on a validation hold-out cut
    from the training part and on the notebook's fold-in protocol alike; λ 100, α 50 ties on
    the former but loses 0.005 on the latter.
  - play counts (:data:`ALS_VALUES`, also ALS picked for ratings): λ 100, α 50 on log1p counts
    (c = 1 + 50·log(1 + count)). Chosen on a validation hold-out cut from the MSD training part
    (20% of each user's songs, seed 1) among about 50 settings (λ 0.1-200 × α 3-200, linear and
    log1p).
    λ 0.1 (the playlists' value) ranks at 0.0544 on the MSD hold-out; large λ needs a large α,
    or the model collapses to popularity (λ 100, α 10: 0.036).

  Measured by ``python benchmarks/bench_quality.py`` (one thread, seed 0; P@10, held-out
  definition; ``implicit`` is its CPU ALS with the same k, λ, α, iterations and confidences):

  ============================================  ==========  ========  ========  =======
  protocol                                      popularity  defaults  implicit  target
  ============================================  ==========  ========  ========  =======
  MPD, 20% of each playlist (≥ 10 tracks)       0.0125      0.1288    0.1294    ≥ 0.12
  MPD, best found by ``--tune`` (k 400, λ 50,   0.0125      0.1405    --        ≥ 0.14
  α 30; picked on an inner hold-out)
  MPD by playlist 70/15/15, fold-in (test)      0.0131      0.1208    0.1207    ≥ 0.12
  MSD subset, 20% of each user's songs (≥ 5)    0.0216      0.0585    0.0592    ≥ 0.055
  built-in data, ``prepare()`` defaults         0.0335      0.0727    --        ≥ 0.067
  ============================================  ==========  ========  ========  =======

  The built-in row is the dashboard's dataset since it was made one where taste decides what
  gets played (``ui.session.BUILTIN``: each listener keeps 1 in 30 of the songs popularity
  offers, Zipf 0.3); on the generator's defaults (1 in 3, Zipf 0.8) the planted tastes plus
  popularity reach only 1.15× popularity, and no model got to 2× there.

SGD chosen by hand regresses ratings and play counts with the ratings values, and on playlists
gets the values tuned on the MPD sample: unbiased, γ 0.03, λ 0.01, ρ 10 uniform negatives (with
biases, b_i learns popularity faster than the factors learn anything; ρ = 0 cannot rank at all).

:data:`RECIPES` are the two research notebooks this tool started from, one click away.
"""
from __future__ import annotations

KINDS = ("ratings", "counts", "binary")
SOLVERS = ("sgd", "als")

#: Hyperparameters whose default depends on neither the data nor the solver. ``eval_sample``:
#: the live ranking curve of the built-in data then costs about 10% of an ALS epoch (2000 users
#: cost 35-70%; ``benchmarks/bench_quality.py``).
COMMON: dict = dict(factors=100, seed=0, threads=1, early_stopping=False, patience=3, eval_k=10,
                    eval_sample=300, monitor="auto")
#: The solver each kind of data trains with unless one is named.
SOLVER_BY_KIND: dict = {"ratings": "sgd", "counts": "als", "binary": "als"}
#: SGD on ratings or play counts (Surprise's SVD; the MSD notebook regressed the counts).
SGD_EXPLICIT: dict = dict(epochs=20, lr=0.005, reg=0.02, init_std=0.1, biased=True,
                          neg_ratio=0.0, neg_sampling="uniform")
#: SGD on playlists (presence only).
SGD_IMPLICIT: dict = dict(epochs=20, lr=0.03, reg=0.01, init_std=0.1, biased=False,
                          neg_ratio=10.0, neg_sampling="uniform")
#: Implicit ALS on playlists (all ones: c = 1 + α). No biases; every unobserved pair counts, so
#: no sampled negatives.
ALS_BINARY: dict = dict(epochs=15, reg=0.1, biased=False, alpha=10.0, confidence="linear",
                        cg_steps=3, solve="cg")
#: Implicit ALS on play counts (log1p-transformed by ``prepare``: c = 1 + α·log(1 + count)) and
#: on ratings, when ALS is picked for them.
ALS_VALUES: dict = dict(ALS_BINARY, reg=100.0, alpha=50.0)
#: Hyperparameters only one solver reads (None in the other's parameters).
ONLY = {"sgd": ("lr", "init_std", "neg_ratio", "neg_sampling"),
        "als": ("alpha", "confidence", "cg_steps", "solve")}
#: Every hyperparameter an estimator takes.
HYPERPARAMETERS = frozenset(COMMON) | frozenset(SGD_EXPLICIT) | frozenset(ALS_VALUES) | {"solver"}
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
        return ALS_BINARY if kind == "binary" else ALS_VALUES
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

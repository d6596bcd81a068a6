"""What the subcommands share: argument groups, number parsers, and reading them back.

Defaults are not written here twice: the preparation options default to :class:`PrepOptions`'
fields, and a hyperparameter left out is not passed to :class:`~mfcore.train.MFModel`, which then
chooses it by the kind of data (the same values the dashboard starts from).
"""
from __future__ import annotations

import argparse
import math
import sys

from ..prepare import TRANSFORMS, PrepOptions
from ..split import SPLIT_KINDS

EXIT_INTERNAL = 1
EXIT_USAGE = 2
INT64_MAX = 2**63 - 1
F32_MAX = 3.4028234663852886e38  # numpy.finfo(numpy.float32).max, without importing numpy
_PREP = PrepOptions()
#: The hyperparameters ``train`` takes (``sweep`` searches those of :data:`mfcore.tune.SEARCHABLE`).
MODEL_ARGS = ("factors", "epochs", "lr", "reg", "seed", "solver", "alpha", "confidence",
              "cg_steps", "solve", "init_std", "biased", "neg_ratio", "neg_sampling",
              "early_stopping", "patience", "monitor", "eval_k", "eval_sample", "threads")


class Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (no usage block)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def say(msg: str) -> None:
    """Progress and warnings go to stderr (stdout is for results)."""
    print(msg, file=sys.stderr, flush=True)


# ---- argument groups ------------------------------------------------------------------------
def add_data_args(p: argparse.ArgumentParser) -> None:
    """Where the data comes from and how it is read."""
    g = p.add_argument_group("data")
    g.add_argument("data", help="data file, folder (MPD slices), SQLite DB, or 'synthetic'")
    g.add_argument("--format", choices=["triplets", "csv", "tsv", "parquet", "mpd", "sqlite",
                                        "synthetic"], help="auto-detected when omitted")
    g.add_argument("--user-col", help="user column (csv/tsv/parquet/sqlite)")
    g.add_argument("--item-col", help="item column (csv/tsv/parquet/sqlite)")
    g.add_argument("--value-col", help="value column (optional; ones when omitted)")
    g.add_argument("--table", help="SQLite table (default: pairings)")
    g.add_argument("--max-rows", type=positive_int, help="read at most this many rows")
    g.add_argument("--max-playlists", type=positive_int, help="SQLite/MPD: first N playlists")
    g.add_argument("--metadata", help="item metadata CSV keyed by item id (title, artist, ...)")
    g.add_argument("--duplicates", default="sum", choices=["sum", "max", "last", "first", "error"],
                   help="what to do with repeated (user, item) rows (default: sum)")
    g.add_argument("--synthetic-shape", default="msd", choices=["msd", "ratings", "playlist"],
                   help="shape of the built-in synthetic data (default: msd)")


def add_prepare_args(p: argparse.ArgumentParser) -> None:
    """Filters, transform and split (:func:`mfcore.prepare.prepare`), defaults included."""
    g = p.add_argument_group("preparation (the dashboard's defaults)")
    g.add_argument("--transform", default=_PREP.transform, choices=["auto", *TRANSFORMS],
                   help="value transform before training (default: auto = log1p for play "
                        "counts, none for ratings and implicit data)")
    g.add_argument("--min-user-count", type=positive_int, default=_PREP.min_user)
    g.add_argument("--min-item-count", type=positive_int, default=_PREP.min_item)
    g.add_argument("--split", default=_PREP.split, choices=[*SPLIT_KINDS, "none"],
                   help="random fraction of rows; per-user hold-out; time: each user's latest "
                        "rows to validation (needs a timestamp column); whole users (fold-in) "
                        f"(default: {_PREP.split})")
    g.add_argument("--val-frac", type=fraction, default=_PREP.val_frac,
                   help=f"(default: {_PREP.val_frac})")
    g.add_argument("--test-frac", type=fraction, default=_PREP.test_frac,
                   help=f"(default: {_PREP.test_frac})")


def add_model_args(p: argparse.ArgumentParser) -> None:
    """Every hyperparameter of ``train``."""
    g = p.add_argument_group(
        "hyperparameters", "Left out, each takes the model's default for the kind of data "
        "(ratings: biased SGD; play counts and playlists: implicit ALS): see "
        "mfcore.train.presets.")
    g.add_argument("--factors", type=positive_int, help="latent size k")
    g.add_argument("--epochs", type=nonneg_int, help="epochs (SGD) or iterations (ALS)")
    g.add_argument("--lr", type=positive_float, help="SGD learning rate γ")
    g.add_argument("--reg", type=nonneg_float, help="regularisation λ")
    g.add_argument("--seed", type=nonneg_int, help="seeds the split and the model (default 0)")
    add_fixed_model_args(g)


def add_fixed_model_args(g) -> None:
    """The hyperparameters of ``train`` beyond the latent size, epochs, lr, reg and seed."""
    g.add_argument("--solver", choices=["sgd", "als"],
                   help="sgd, or als (implicit alternating least squares)")
    g.add_argument("--alpha", type=nonneg_float, help="ALS confidence c = 1 + α·g(value)")
    g.add_argument("--confidence", choices=["linear", "log1p"], help="ALS g: identity or log1p")
    g.add_argument("--cg-steps", type=positive_int, help="ALS conjugate-gradient steps per row")
    g.add_argument("--solve", choices=["cg", "cholesky"], help="ALS row solve (cholesky: exact)")
    g.add_argument("--monitor", choices=["auto", "val_rmse", "precision", "recall", "ndcg"],
                   help="the validation figure that picks the best epoch and drives early "
                        "stopping (auto: RMSE for ratings, NDCG@k otherwise)")
    g.add_argument("--eval-k", type=positive_int, help="k of the per-epoch ranking metrics")
    g.add_argument("--eval-sample", type=nonneg_int,
                   help="validation users ranked after every epoch (0: none)")
    g.add_argument("--init-std", type=nonneg_float, help="SGD factor init std")
    g.add_argument("--biased", dest="biased", action="store_true", default=None,
                   help="use μ, b_u, b_i (default for explicit data)")
    g.add_argument("--unbiased", dest="biased", action="store_false",
                   help="drop μ, b_u, b_i (default for implicit data)")
    g.add_argument("--neg-ratio", type=nonneg_float,
                   help="sampled negatives per observed pair")
    g.add_argument("--neg-sampling", choices=["uniform", "popularity"],
                   help="how negatives are drawn")
    g.add_argument("--early-stopping", action="store_true", default=None)
    g.add_argument("--patience", type=positive_int)
    g.add_argument("--threads", type=nonneg_int,
                   help="1: deterministic single thread (default); N: parallel; 0: auto")


def add_eval_args(p: argparse.ArgumentParser, default_k: int | None) -> None:
    g = p.add_argument_group("ranking evaluation")
    g.add_argument("--k", type=positive_int, default=default_k,
                   help="compute precision@k / recall@k / NDCG@k")
    g.add_argument("--definition", choices=["heldout", "favourites"], default="heldout")
    g.add_argument("--direction", choices=["users", "items"], default="users")
    g.add_argument("--sample", type=positive_int, help="evaluate a seeded sample of subjects")


def add_history_args(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--history-db", help=f"run history to record {what} in (default: "
                   "$MFX_HISTORY_DB, else ~/.local/share/mfcore/runs.sqlite)")
    p.add_argument("--no-history", action="store_true", help=f"do not record {what}")


# ---- reading the arguments back -------------------------------------------------------------
def load_data(args):
    """The data named by :func:`add_data_args`' arguments, as loaded (not yet prepared)."""
    if args.data.startswith("synthetic") or args.format == "synthetic":
        from ..load.synthetic import generate
        shape = args.data.split(":", 1)[1] if ":" in args.data else args.synthetic_shape
        return generate(shape=shape, seed=0)
    from ..load import load_dataset
    return load_dataset(args.data, args.format, max_rows=args.max_rows,
                        duplicates=args.duplicates, user_col=args.user_col,
                        item_col=args.item_col, value_col=args.value_col, table=args.table,
                        max_playlists=args.max_playlists, metadata=args.metadata)


def prepared_data(args, seed: int | None = None):
    """The data loaded and prepared as :func:`prep_options` says, for a command that shows no
    rows: one values array (``prepare(keep_loaded_values=False)``), unless favourites are ranked,
    which reads each subject's values as loaded."""
    from ..prepare import prepare
    return prepare(load_data(args), prep_options(args, seed=seed),
                   keep_loaded_values=args.definition == "favourites")


def prep_options(args, seed: int | None = None) -> PrepOptions:
    """:func:`add_prepare_args`' arguments; the split is seeded by ``seed`` (default 0)."""
    return PrepOptions(transform=args.transform, min_user=args.min_user_count,
                       min_item=args.min_item_count, split=args.split, val_frac=args.val_frac,
                       test_frac=args.test_frac, seed=_PREP.seed if seed is None else seed)


def model_kwargs(args, names=MODEL_ARGS) -> dict:
    """The hyperparameters given on the command line (those left out are not passed)."""
    return {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}


def open_history(args):
    """The run history to record in, checked now — foreign, damaged or read-only, it fails
    before any work — or None with ``--no-history``."""
    if args.no_history:
        return None
    from ..runstore import RunHistory
    history = RunHistory(args.history_db)
    history.check()
    return history


# ---- numbers --------------------------------------------------------------------------------
def positive_int(s: str) -> int:
    v = nonneg_int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {_shown(s)}")
    return v


def nonneg_int(s: str) -> int:
    """An integer in [0, 2**63 - 1]: every count, cap and seed is stored as a 64-bit integer."""
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {_shown(s)}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {_shown(s)}")
    if v > INT64_MAX:
        raise argparse.ArgumentTypeError(f"expected an integer <= {INT64_MAX:,} (2**63 - 1), "
                                         f"got {_shown(s)}")
    return v


def nonneg_float(s: str) -> float:
    """A finite number >= 0 that float32 holds (the engine computes in float32)."""
    try:
        v = float(s)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"expected a number, got {_shown(s)}") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {_shown(s)}")
    if v > F32_MAX:
        raise argparse.ArgumentTypeError(f"expected a number <= {F32_MAX:.4g} (float32's "
                                         f"largest), got {_shown(s)}")
    return v


def _shown(s: str) -> str:
    return repr(s if len(s) <= 40 else s[:40] + "…")


def positive_float(s: str) -> float:
    v = nonneg_float(s)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {_shown(s)}")
    return v


def fraction(s: str) -> float:
    v = nonneg_float(s)
    if v >= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {_shown(s)}")
    return v

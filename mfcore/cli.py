"""Command line: ``python -m mfcore {generate,train,evaluate,recommend,sweep}``.

Progress goes to stderr; with ``--json`` the last line of stdout is one JSON object, so scripts
can rely on it. A bad argument or file exits with status 2 and a one-line message, no traceback
(set ``MFCORE_DEBUG=1`` to see one).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from .errors import MFError

EXIT_USAGE = 2
EXIT_INTERNAL = 1


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (no usage block)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


# ---- argument groups shared by subcommands ---------------------------------------------------
def _add_data_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument("data", help="data file, folder (MPD slices), SQLite DB, or 'synthetic'")
    g.add_argument("--format", choices=["triplets", "csv", "tsv", "parquet", "mpd", "sqlite",
                                        "synthetic"], help="auto-detected when omitted")
    g.add_argument("--user-col", help="user column (csv/tsv/parquet/sqlite)")
    g.add_argument("--item-col", help="item column (csv/tsv/parquet/sqlite)")
    g.add_argument("--value-col", help="value column (optional; ones when omitted)")
    g.add_argument("--table", help="SQLite table (default: pairings)")
    g.add_argument("--max-rows", type=_positive_int, help="read at most this many rows")
    g.add_argument("--max-playlists", type=_positive_int, help="SQLite/MPD: first N playlists")
    g.add_argument("--metadata", help="item metadata CSV keyed by item id (title, artist, ...)")
    g.add_argument("--duplicates", default="sum", choices=["sum", "max", "last", "first", "error"],
                   help="what to do with repeated (user, item) rows (default: sum)")
    g.add_argument("--synthetic-shape", default="msd", choices=["msd", "ratings", "playlist"],
                   help="shape of the built-in synthetic data (default: msd)")
    g.add_argument("--transform", default="none",
                   choices=["none", "standardize", "log1p", "binary"],
                   help="value transform before training (default: none)")
    g.add_argument("--min-user-count", type=_positive_int, default=1)
    g.add_argument("--min-item-count", type=_positive_int, default=1)


def _add_split_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("split")
    g.add_argument("--split", default="random", choices=["random", "holdout", "user", "none"],
                   help="random fraction of rows; per-user hold-out; whole users (fold-in)")
    g.add_argument("--val-frac", type=_fraction, default=0.2)
    g.add_argument("--test-frac", type=_fraction, default=0.0)


def _add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("hyperparameters")
    g.add_argument("--factors", type=_positive_int, default=100, help="latent size (100)")
    g.add_argument("--epochs", type=_nonneg_int, default=20, help="(20)")
    g.add_argument("--lr", type=_positive_float, default=None,
                   help="learning rate γ (default: 0.005 explicit data, 0.03 implicit)")
    g.add_argument("--reg", type=_nonneg_float, default=None,
                   help="regularisation λ (default: 0.02 explicit data, 0.01 implicit)")
    g.add_argument("--seed", type=_nonneg_int, default=0)
    add_fixed_model_args(g)


def add_fixed_model_args(g) -> None:
    """The hyperparameters that ``train`` sets and ``sweep`` keeps fixed across trials."""
    g.add_argument("--init-std", type=_nonneg_float, default=0.1, help="factor init std (0.1)")
    g.add_argument("--biased", dest="biased", action="store_true", default=None,
                   help="use μ, b_u, b_i (default for explicit data)")
    g.add_argument("--unbiased", dest="biased", action="store_false",
                   help="drop μ, b_u, b_i (default for implicit data)")
    g.add_argument("--neg-ratio", type=_nonneg_float, default=None,
                   help="sampled negatives per observed pair (default: 0 explicit, 10 implicit)")
    g.add_argument("--neg-sampling", choices=["uniform", "popularity"], default=None,
                   help="how negatives are drawn (default: uniform)")
    g.add_argument("--early-stopping", action="store_true")
    g.add_argument("--patience", type=_positive_int, default=3)
    g.add_argument("--threads", type=_nonneg_int, default=1,
                   help="1: deterministic single thread; N: parallel; 0: auto")


def _add_eval_args(p: argparse.ArgumentParser, default_k: int | None) -> None:
    g = p.add_argument_group("ranking evaluation")
    g.add_argument("--k", type=_positive_int, default=default_k,
                   help="compute precision@k / recall@k / NDCG@k")
    g.add_argument("--definition", choices=["heldout", "favourites"], default="heldout")
    g.add_argument("--direction", choices=["users", "items"], default="users")
    g.add_argument("--sample", type=_positive_int, help="evaluate a seeded sample of subjects")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m mfcore",
                     description="Matrix-factorization recommenders: generate, train, evaluate, "
                                 "recommend, sweep.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    g = sub.add_parser("generate", help="write a synthetic dataset with planted structure")
    g.add_argument("out", help="output file (.tsv or .tsv.gz triplets; .csv for ratings)")
    g.add_argument("--shape", default="msd", choices=["msd", "ratings", "playlist"])
    g.add_argument("--users", type=_positive_int, default=2000)
    g.add_argument("--items", type=_positive_int, default=1000)
    g.add_argument("--interactions", type=_positive_int, default=60_000)
    g.add_argument("--rank", type=_positive_int, default=8)
    g.add_argument("--noise", type=_nonneg_float, default=0.2)
    g.add_argument("--seed", type=_nonneg_int, default=0)
    g.add_argument("--metadata-out", help="also write item metadata CSV (title, artist)")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=cmd_generate)

    t = sub.add_parser("train", help="train a model and report its history and metrics")
    _add_data_args(t)
    _add_split_args(t)
    _add_model_args(t)
    _add_eval_args(t, default_k=None)
    t.add_argument("--model-out", help="save the fitted model (.npz)")
    t.add_argument("--history-db", help="run history to record the run in (default: "
                   "$MFX_HISTORY_DB, else ~/.local/share/mfcore/runs.sqlite)")
    t.add_argument("--no-history", action="store_true", help="do not record the run")
    t.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    t.add_argument("--quiet", action="store_true", help="no per-epoch lines on stderr")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="score a saved model on data")
    e.add_argument("model", help="model file written by train --model-out")
    _add_data_args(e)
    _add_split_args(e)
    _add_eval_args(e, default_k=10)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    r = sub.add_parser("recommend", help="top-N songs for a user, fans or similar songs, fold-in")
    r.add_argument("model", help="model file written by train --model-out")
    who = r.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="raw user id: top-N items")
    who.add_argument("--fans-of", help="raw item id: its top fans")
    who.add_argument("--similar-to", help="raw item id: most similar items")
    who.add_argument("--items", help="comma-separated raw item ids: fold in a new user")
    r.add_argument("--n", type=_positive_int, default=10)
    r.add_argument("--data", help="training data, to leave out items the user already has")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_recommend)

    try:
        from .tune.sweep import add_sweep_parser
    except ImportError:
        pass
    else:
        add_sweep_parser(sub)
    return parser


# ---- commands ------------------------------------------------------------------------------
def cmd_generate(args) -> dict:
    from .load.synthetic import generate

    data = generate(args.users, args.items, args.interactions, rank=args.rank, shape=args.shape,
                    noise=args.noise, seed=args.seed)
    out = Path(args.out)
    import pandas as pd

    frame = pd.DataFrame({"user": data.user_ids[data.users], "item": data.item_ids[data.items],
                          "value": data.values})
    if args.shape != "ratings":
        frame["value"] = frame["value"].astype(np.int64)
    frame.to_csv(out, sep="," if out.suffix == ".csv" else "\t", header=out.suffix == ".csv",
                 index=False)
    if args.metadata_out:
        data.item_meta.rename_axis("item_id").to_csv(args.metadata_out)
    result = {"path": str(out), **data.summary()}
    _say(f"wrote {len(data):,} rows ({data.n_users:,} users, {data.n_items:,} items) to {out}")
    return result


def _load(args):
    from . import prepare

    if args.data.startswith("synthetic") or args.format == "synthetic":
        from .load.synthetic import generate
        shape = args.data.split(":", 1)[1] if ":" in args.data else args.synthetic_shape
        data = generate(shape=shape, seed=0)
    else:
        from .load import load_dataset
        data = load_dataset(args.data, args.format, max_rows=args.max_rows,
                            duplicates=args.duplicates, user_col=args.user_col,
                            item_col=args.item_col, value_col=args.value_col, table=args.table,
                            max_playlists=args.max_playlists, metadata=args.metadata)
    if args.min_user_count > 1 or args.min_item_count > 1:
        data = prepare.filter_min_counts(data, args.min_user_count, args.min_item_count)
    if args.transform != "none":
        data = prepare.transform(data, args.transform)
    return data


def _split(data, args, seed: int):
    from .split import make_split

    return make_split(data, args.split, val_frac=args.val_frac, test_frac=args.test_frac,
                      seed=seed)


def _ranking(model, train, heldout, full, args) -> dict:
    from .evaluate.ranking import evaluate_ranking

    if args.definition == "heldout" and heldout is None:
        raise MFError("--k with the held-out definition needs a split with validation data")
    t0 = time.perf_counter()
    res = evaluate_ranking(model, train, heldout, k=args.k, definition=args.definition,
                           direction=args.direction, sample=args.sample, seed=0,
                           full_data=full)
    out = {"k": args.k, "definition": args.definition, "direction": args.direction,
           "precision_at_k": res.precision, "recall_at_k": res.recall, "ndcg_at_k": res.ndcg,
           "coverage": res.coverage, "n_evaluated": res.n_evaluated,
           "n_skipped": res.n_skipped, "eval_seconds": time.perf_counter() - t0}
    for name in ("precision_ci95", "recall_ci95"):
        if getattr(res, name, None) is not None:
            out[name] = list(getattr(res, name))
    return out


def cmd_train(args) -> dict:
    from .evaluate.accuracy import score_predictions
    from .train import MFModel, check_memory

    history = None
    if not args.no_history:
        from .history import RunHistory
        history = RunHistory(args.history_db)
        history.ensure()  # an unusable history file fails now, not after training
    t_load = time.perf_counter()
    data = _load(args)
    sp = _split(data, args, args.seed)
    load_seconds = time.perf_counter() - t_load
    model = MFModel(factors=args.factors, epochs=args.epochs, lr=args.lr, reg=args.reg,
                    init_std=args.init_std, biased=args.biased, neg_ratio=args.neg_ratio,
                    neg_sampling=args.neg_sampling, seed=args.seed, threads=args.threads,
                    early_stopping=args.early_stopping, patience=args.patience)
    check_memory(data.n_users, data.n_items, len(sp.train), args.factors, args.early_stopping)

    def report(stats):
        if not args.quiet:
            _say(f"epoch {stats.epoch:3d}  loss {stats.loss:.4g}  train RMSE "
                 f"{stats.train_rmse:.4f}  val RMSE {stats.val_rmse:.4f}  "
                 f"{stats.seconds:.2f}s  {stats.ratings_per_s / 1e6:.1f}M ratings/s")

    t0 = time.perf_counter()
    model.fit(sp.train, sp.val, callback=report)
    fit_seconds = time.perf_counter() - t0
    result = {
        "status": model.status_, "history": [h.to_dict() for h in model.history_],
        "fit_seconds": fit_seconds, "load_seconds": load_seconds, "threads": model.threads_used_,
        "n_users": data.n_users, "n_items": data.n_items, "n_train": len(sp.train),
        "n_val": len(sp.val) if sp.val is not None else 0, "split": sp.kind,
        "params": model.params, "data": {**data.summary(), "fingerprint": data.fingerprint},
        "split_info": sp.info,
    }
    if model.status_ == "diverged":
        result["diverged_at"] = {"epoch": model.diverged_at_[0], "step": model.diverged_at_[1]}
        _say(f"diverged in epoch {model.diverged_at_[0]}: try a smaller --lr")
    scores = score_predictions(model, sp.train)
    result["train_rmse"], result["train_mae"] = scores["rmse"], scores["mae"]
    if sp.val is not None and len(sp.val):
        scores = score_predictions(model, sp.val, train=sp.train)
        result["val_rmse"], result["val_mae"] = scores["rmse"], scores["mae"]
    else:
        result["val_rmse"] = result["val_mae"] = None
    if args.k:
        result.update(_ranking(model, sp.train, sp.val, data, args))
    if args.model_out:
        from .modelio import save_model
        save_model(model, args.model_out, data=data)
        result["model_path"] = str(args.model_out)
    if history is not None:
        result["run_id"] = history.record_result(result, source="cli",
                                                  model_path=args.model_out)
        result["history_db"] = str(history.path)
    return result


def cmd_evaluate(args) -> dict:
    from .evaluate.accuracy import score_predictions
    from .modelio import load_model

    model, meta = load_model(args.model)
    data = _remap_to_model(_load(args), meta)
    sp = _split(data, args, int(meta.get("params", {}).get("seed", 0)))
    result = {"model": str(args.model), "n_users": data.n_users, "n_items": data.n_items}
    target = sp.val if sp.val is not None and len(sp.val) else sp.train
    result.update({k: v for k, v in score_predictions(model, target, train=sp.train).items()
                   if isinstance(v, (int, float))})
    if args.k:
        result.update(_ranking(model, sp.train, sp.val, data, args))
    return result


def _remap_to_model(data, meta):
    """Re-index ``data`` onto the model's id maps; rows of unknown users/items are dropped."""
    from .interactions import Interactions

    user_ids = np.asarray(meta["user_ids"])
    item_ids = np.asarray(meta["item_ids"])
    u = _lookup(user_ids, data.user_ids.astype(str))[data.users]
    i = _lookup(item_ids, data.item_ids.astype(str))[data.items]
    keep = (u >= 0) & (i >= 0)
    if not keep.any():
        raise MFError("none of the data's users and items are known to the model")
    return Interactions(u[keep].astype(np.int32), i[keep].astype(np.int32), data.values[keep],
                        user_ids, item_ids, item_meta=data.item_meta, implicit=data.implicit,
                        source=data.source)


def _lookup(known: np.ndarray, raw: np.ndarray) -> np.ndarray:
    import pandas as pd

    return pd.Index(known.astype(str)).get_indexer(raw)


def cmd_recommend(args) -> dict:
    from . import recommend as rec
    from .modelio import load_model

    model, meta = load_model(args.model)
    user_ids = np.asarray(meta["user_ids"]).astype(str)
    item_ids = np.asarray(meta["item_ids"]).astype(str)

    def find(ids, raw, what):
        idx = _lookup(ids, np.array([raw]))[0]
        if idx < 0:
            raise MFError(f"unknown {what} id {raw!r}")
        return int(idx)

    if args.user is not None:
        exclude = None
        if args.data:
            # The data options at their defaults, taken from the one place that defines them.
            data_parser = _Parser(prog="recommend --data")
            _add_data_args(data_parser)
            ns = data_parser.parse_args(["--", args.data])
            exclude = _remap_to_model(_load(ns), meta)
        idx, scores = rec.recommend(model, find(user_ids, args.user, "user"), n=args.n,
                                    exclude=exclude)
        ids, kind = item_ids, "items"
    elif args.fans_of is not None:
        idx, scores = rec.top_fans(model, find(item_ids, args.fans_of, "item"), n=args.n)
        ids, kind = user_ids, "users"
    elif args.similar_to is not None:
        idx, scores = rec.similar_items(model, find(item_ids, args.similar_to, "item"), n=args.n)
        ids, kind = item_ids, "items"
    else:
        given = [find(item_ids, s.strip(), "item") for s in args.items.split(",") if s.strip()]
        idx, scores = rec.recommend_folded(model, given, n=args.n)
        ids, kind = item_ids, "items"
    rows = [{"id": str(ids[i]), "index": int(i), "score": float(s)} for i, s in zip(idx, scores)]
    if not args.json:
        for r_ in rows:
            print(f"{r_['id']}\t{r_['score']:.4f}")
    return {"kind": kind, "results": rows}


# ---- plumbing ------------------------------------------------------------------------------
def _say(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def _clean(o):
    """NaN/inf are not JSON: write them as null."""
    if isinstance(o, float) and not math.isfinite(o):
        return None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (MFError, OSError) as exc:
        if os.environ.get("MFCORE_DEBUG"):
            raise
        print(f"{parser.prog} {args.command}: error: {exc}".replace("\n", " "), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{parser.prog} {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug: still one line, but say it is ours
        if os.environ.get("MFCORE_DEBUG"):
            raise
        print(f"{parser.prog} {args.command}: internal error: {type(exc).__name__}: {exc} "
              "(set MFCORE_DEBUG=1 for a traceback)".replace("\n", " "), file=sys.stderr)
        return EXIT_INTERNAL
    if getattr(args, "json", False):
        print(json.dumps(_clean(result), default=_json_default, allow_nan=False))
    elif args.command == "train":
        keys = ("status", "train_rmse", "val_rmse", "val_mae", "precision_at_k", "recall_at_k",
                "fit_seconds")
        print("  ".join(f"{k}={result[k]}" for k in keys if k in result))
    return 0


def _positive_int(s: str) -> int:
    v = _nonneg_int(s)
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {s!r}")
    return v


def _nonneg_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {s!r}")
    return v


def _nonneg_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {s!r}") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {s!r}")
    return v


def _positive_float(s: str) -> float:
    v = _nonneg_float(s)
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {s!r}")
    return v


def _fraction(s: str) -> float:
    v = _nonneg_float(s)
    if v >= 1:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {s!r}")
    return v

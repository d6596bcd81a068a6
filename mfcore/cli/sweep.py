"""``python -m mfcore sweep``: a grid or random search, data loaded and prepared once."""
from __future__ import annotations

import time
from pathlib import Path

from ..errors import ConfigError
from ..tune.results import METRICS, SweepResult, Trial
from ..tune.space import SWEPT, default_text
from ..values import fmt
from .args import (MODEL_ARGS, add_data_args, add_eval_args, add_fixed_model_args,
                   add_history_args, add_prepare_args, load_data, model_kwargs, nonneg_int,
                   open_history, positive_int, prep_options, say)

_FIXED = tuple(n for n in MODEL_ARGS if n not in SWEPT)


def add_parser(sub) -> None:
    s = sub.add_parser(
        "sweep", help="grid or random search over latent size, lr, reg and epochs",
        description="Train one model per configuration on data loaded and prepared once; "
                    "report each trial, the best configuration and each hyperparameter's "
                    "importance.")
    add_data_args(s)
    add_prepare_args(s)
    grid = ", ".join(f"--{n} {default_text(n, random=False).replace(' ', '')}" for n in SWEPT)
    rand = ", ".join(f"--{n} {default_text(n, random=True)}" for n in SWEPT)
    g = s.add_argument_group(
        "search space",
        f"Grid (default): comma-separated values, every combination is tried (defaults {grid}, "
        "as on the Tune page). With --random N: LO:HI ranges (log-uniform for factors, lr, "
        f"reg; uniform for epochs), comma-separated choices, or one fixed value (defaults "
        f"{rand}).")
    g.add_argument("--factors", help="latent sizes")
    g.add_argument("--lr", help="learning rates")
    g.add_argument("--reg", help="regularisation strengths")
    g.add_argument("--epochs", help="epochs per trial")
    g.add_argument("--random", type=positive_int, metavar="N",
                   help="random search of N trials instead of a grid")
    g.add_argument("--seed", type=nonneg_int, default=0,
                   help="seeds the split, the models and the random search (0)")
    add_fixed_model_args(s.add_argument_group("fixed hyperparameters"))
    add_eval_args(s, default_k=None)
    s.add_argument("--metric", choices=list(METRICS), default=None,
                   help="choose the best by val_rmse (default) or precision_at_k (needs --k)")
    add_history_args(s, "every trial")
    s.add_argument("--model-dir", help="save every trial's model (.npz) in this folder")
    s.add_argument("--report", help="write a self-contained HTML report of the sweep here")
    s.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    s.add_argument("--quiet", action="store_true", help="no per-trial lines on stderr")
    s.set_defaults(func=run)


def _trials(args) -> tuple[list[dict], dict]:
    """The planned trials and the search space as given (text)."""
    from ..tune.space import grid_trials, parse_values, random_trials

    random = args.random is not None
    space = {n: (getattr(args, n) or default_text(n, random=random)) for n in SWEPT}
    parsed = {n: parse_values(n, v, random=random) for n, v in space.items()}
    if random:
        return random_trials(args.random, seed=args.seed, **parsed), space
    return grid_trials(**parsed), space


def run(args) -> dict:
    from ..prepare import prepare
    from ..tune.runner import run_sweep

    t_wall = time.perf_counter()
    trials, space = _trials(args)
    metric = args.metric or "val_rmse"
    if metric == "precision_at_k" and not args.k:
        raise ConfigError("--metric precision_at_k needs --k")
    history = open_history(args)
    t_load = time.perf_counter()
    prepared = prepare(load_data(args), prep_options(args, seed=args.seed))
    load_seconds = time.perf_counter() - t_load
    if not args.quiet:
        n_val = len(prepared.val) if prepared.val is not None else 0
        say(f"{len(trials)} trials ({'random search' if args.random else 'grid'}) on "
            f"{len(prepared.train):,} training / {n_val:,} validation rows")
    ranking = {"definition": args.definition, "direction": args.direction}
    if args.sample:
        ranking["sample"] = args.sample
    res = run_sweep(prepared, trials, base_params={**model_kwargs(args, _FIXED),
                                                   "seed": args.seed},
                    metric=metric, k=args.k, ranking=ranking if args.k else None,
                    history=history, kind="random" if args.random else "grid",
                    model_dir=args.model_dir, callback=lambda t: _report(args, t, len(trials)),
                    space=space)
    out = res.to_dict()
    out.update(load_seconds=load_seconds, wall_seconds=time.perf_counter() - t_wall,
               sweep_seconds=res.wall_seconds)
    if history is not None:
        out["history_db"] = str(history.path)
    if args.report:
        from ..report import sweep_report_html
        Path(args.report).write_text(
            sweep_report_html(res.trials_frame(), res.best, res.importance,
                              {**res.meta, "sweep_id": res.sweep_id, "status": res.status,
                               "wall_seconds": out["wall_seconds"]}), encoding="utf-8")
        out["report"] = str(args.report)
    for w in res.warnings:
        say(f"warning: {w}")
    if not args.json:
        _print_table(res, args.k)
    return out


def _report(args, t: Trial, n: int) -> None:
    if args.quiet:
        return
    extra = f"  p@{args.k} {fmt(t.precision_at_k)}" if args.k else ""
    say(f"trial {t.index + 1:3d}/{n}  k={t.params['factors']:<4d} "
        f"lr={t.params['lr']:<9.4g} reg={t.params['reg']:<9.4g} "
        f"epochs={t.params['epochs']:<4d} {t.status:<13s} val RMSE {fmt(t.val_rmse)}"
        f"{extra}  {t.seconds:.2f}s")


def _print_table(res: SweepResult, k) -> None:
    import pandas as pd

    frame = res.trials_frame()
    cols = ["trial", *SWEPT, "status", "val_rmse", "train_rmse"]
    if k:
        cols.append("precision_at_k")
    cols.append("seconds")
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(frame[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if res.best:
        b = res.best
        print(f"best ({res.metric}): factors={b['params']['factors']} lr={b['params']['lr']:g} "
              f"reg={b['params']['reg']:g} epochs={b['params']['epochs']}  val RMSE "
              f"{fmt(b['val_rmse'])}" + (f"  precision@{k} {fmt(b['precision_at_k'])}"
                                         if k else ""))
    else:
        print("best: none (no trial finished normally)")
    if res.importance:
        print("importance (eta²): " + ", ".join(f"{p} {v:.2f}"
                                                  for p, v in res.importance.items()))
    if res.status == "cancelled":
        print(f"cancelled after {len(res.trials)} of {res.n_planned} trials")

"""``python -m mfcore sweep``: an Optuna study on data loaded and prepared once.

Trials run in threads of this process (``--jobs``) or on a Dask cluster (``--cluster
tcp://host:8786``, default ``$MFX_DASK_SCHEDULER``); ``--resume SWEEP_ID`` extends a recorded
study with ``--trials`` more.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..tune.space import SEARCHABLE
from ..tune.study import PRUNERS, SAMPLERS
from ..values import fmt
from .args import (add_data_args, add_history_args, add_prepare_args, nonneg_int,
                   open_history, positive_int, prepared_data, say)

if TYPE_CHECKING:
    from ..tune.results import SweepResult, Trial

_FIXED = ("solver", "solve", "eval_sample", "early_stopping", "patience", "threads")


def add_parser(sub) -> None:
    s = sub.add_parser(
        "sweep", help="tune hyperparameters: an Optuna study (TPE, random or grid) with pruning",
        description="Search the chosen solver's hyperparameters on data loaded and prepared "
                    "once; trials run in local threads or on a Dask cluster, hopeless ones are "
                    "pruned after an epoch, every trial is recorded in the run history.")
    add_data_args(s)
    add_prepare_args(s)
    g = s.add_argument_group("study")
    g.add_argument("--sampler", choices=SAMPLERS, default="tpe",
                   help="tpe (default), random, or grid (every combination of the values)")
    g.add_argument("--trials", type=positive_int,
                   help="trials to run (default: the whole grid, else 20)")
    g.add_argument("--objective", default="auto",
                   help="val_rmse, precision@K, recall@K or ndcg@K (default: val_rmse for "
                        "ratings, ndcg@10 for play counts and playlists)")
    g.add_argument("--pruner", choices=PRUNERS, default="median",
                   help="stop hopeless trials early: median (default), halving (successive "
                        "halving), none")
    g.add_argument("--cluster", metavar="ADDRESS",
                   help="Dask scheduler (tcp://host:8786) or local:N worker processes; default "
                        "$MFX_DASK_SCHEDULER, else local threads")
    g.add_argument("--jobs", type=positive_int, default=1,
                   help="trials at once in local threads (default 1)")
    g.add_argument("--seed", type=nonneg_int, default=0,
                   help="seeds the split, the sampler and every model (0)")
    g.add_argument("--resume", metavar="SWEEP_ID",
                   help="extend this recorded study with --trials more (its own settings)")
    sp = s.add_argument_group(
        "search space", "Each: LO:HI (log scale for factors, lr, reg, init-std, alpha), "
        "comma-separated choices, or one value (fixed). Left out: the solver's default range "
        "(see mfcore.tune.space); a grid takes values only.")
    for name in SEARCHABLE:
        sp.add_argument(f"--{name.replace('_', '-')}", dest=f"space_{name}", metavar="SPEC")
    f = s.add_argument_group("fixed for every trial")
    f.add_argument("--solver", choices=["sgd", "als"], help="default: by kind of data")
    f.add_argument("--solve", choices=["cg", "cholesky"], help="ALS row solve")
    f.add_argument("--eval-sample", type=nonneg_int,
                   help="validation users ranked after every epoch, for pruning (default 2000)")
    f.add_argument("--early-stopping", action="store_true", default=None)
    f.add_argument("--patience", type=positive_int)
    f.add_argument("--threads", type=nonneg_int, help="threads per trial (default 1)")
    e = s.add_argument_group("final ranking of each trial")
    e.add_argument("--definition", choices=["heldout", "favourites"], default="heldout")
    e.add_argument("--direction", choices=["users", "items"], default="users")
    e.add_argument("--sample", type=positive_int, help="rank a seeded sample of subjects")
    add_history_args(s, "every trial")
    s.add_argument("--model-dir", help="save every trial's model (.npz) in this folder")
    s.add_argument("--report", help="write a self-contained HTML report of the study here")
    s.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    s.add_argument("--quiet", action="store_true", help="no per-trial lines on stderr")
    s.set_defaults(func=run)


def run(args) -> dict:
    from ..tune.runner import run_study

    t_wall = time.perf_counter()
    history = open_history(args)
    resume = None
    if args.resume:
        if history is None:
            raise ConfigError("--resume reads the study from the run history: drop --no-history")
        from ..runstore_sweeps import sweep_from_history
        resume = sweep_from_history(history, args.resume)
    t_load = time.perf_counter()
    prepared = prepared_data(args, seed=args.seed)
    load_seconds = time.perf_counter() - t_load
    space = {n: getattr(args, f"space_{n}") for n in SEARCHABLE
             if getattr(args, f"space_{n}") is not None}
    base = {n: getattr(args, n) for n in _FIXED if getattr(args, n) is not None}
    ranking = {"definition": args.definition, "direction": args.direction}
    if args.sample:
        ranking["sample"] = args.sample
    res = run_study(prepared, space, sampler=args.sampler, n_trials=args.trials,
                    objective=args.objective, pruner=args.pruner, seed=args.seed,
                    base_params=base, ranking=ranking, history=history, resume=resume,
                    cluster=args.cluster, jobs=args.jobs, model_dir=args.model_dir,
                    callback=lambda t: _report(args, t), meta_callback=lambda m: _start(args, m))
    out = res.to_dict()
    out.update(load_seconds=load_seconds, wall_seconds=time.perf_counter() - t_wall,
               study_seconds=res.wall_seconds)
    if history is not None:
        out["history_db"] = str(history.path)
    if args.report:
        from ..tune.plots import study_report_html
        Path(args.report).write_text(study_report_html(res), encoding="utf-8")
        out["report"] = str(args.report)
    for w in res.warnings:
        say(f"warning: {w}")
    if not args.json:
        _print_table(res)
    return out


def _start(args, meta: dict) -> None:
    if args.quiet:
        return
    where = meta["where"]
    place = (f"{where['workers']} Dask worker(s) at {where['scheduler']}"
             if where["kind"] == "dask" else f"{where['slots']} local thread(s)")
    ref = (meta.get("reference") or {}).get("popularity")
    say(f"study: {meta['n_new']} {meta['sampler']} trials of {meta['solver']} on "
        f"{meta['n_train']:,} training / {meta['n_val']:,} validation rows, objective "
        f"{meta['objective']} ({meta['direction']}), pruner {meta['pruner']}, on {place}"
        + (f"; popularity scores {fmt(ref)}" if ref is not None else ""))


def _report(args, t: Trial) -> None:
    if args.quiet:
        return
    params = " ".join(f"{k}={fmt(v) if isinstance(v, float) else v}" for k, v in t.params.items())
    say(f"trial {t.number + 1:3d}  {t.state:<8s} {fmt(t.value):>8s}  {params}  "
        f"{t.epochs_run} epochs {t.seconds:.2f}s on {t.worker}"
        + (f"  ({t.error})" if t.error else ""))


def _print_table(res: SweepResult) -> None:
    import pandas as pd

    frame = res.trials_frame()
    cols = [c for c in frame.columns if c not in ("error", "train_rmse", "recall_at_k")
            and not frame[c].isna().all()]
    with pd.option_context("display.max_rows", None, "display.width", 220):
        print(frame[cols].to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    spec = res.objective_spec
    if res.best:
        b = res.best
        print(f"best ({spec.label}, {spec.direction}): trial {b['number'] + 1} "
              + " ".join(f"{k}={fmt(v) if isinstance(v, float) else v}"
                         for k, v in b["params"].items()) + f"  {fmt(b['value'])}")
    else:
        print("best: none (no trial completed)")
    if res.importance:
        print("importance (PED-ANOVA): " + ", ".join(f"{p} {v:.2f}"
                                                     for p, v in res.importance.items()))
    if res.status == "cancelled":
        print(f"cancelled after {len(res.trials)} of {res.n_planned} trials")

"""``python -m mfcore train``: prepare the data, train one model, score it, record the run."""
from __future__ import annotations

import time

from .args import (add_data_args, add_eval_args, add_history_args, add_model_args,
                   add_prepare_args, model_kwargs, open_history, prepared_data, say)

#: Exit status of a run that diverged (its record is still printed and recorded).
EXIT_DIVERGED = 3
_SHOWN = ("status", "train_rmse", "val_rmse", "val_mae", "precision_at_k", "recall_at_k",
          "ndcg_at_k", "fit_seconds")


def add_parser(sub) -> None:
    t = sub.add_parser(
        "train", help="train a model and report its history and metrics",
        description="Load the data, prepare it as the dashboard does (filters, transform, "
                    "split), train one model and score it; the run is recorded in the run "
                    "history.",
        epilog=f"Exit status: 0 when training finished (or stopped early), {EXIT_DIVERGED} when "
               "it diverged (the loss became infinite: try a smaller --lr), 2 for a bad "
               "argument or file, 1 for an internal error.")
    add_data_args(t)
    add_prepare_args(t)
    add_model_args(t)
    add_eval_args(t, default_k=None)
    t.add_argument("--model-out", help="save the fitted model (.npz)")
    add_history_args(t, "the run")
    t.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    t.add_argument("--quiet", action="store_true", help="no per-epoch lines on stderr")
    t.set_defaults(func=run, exit_status=exit_status)


def exit_status(result: dict) -> int:
    return EXIT_DIVERGED if result.get("status") == "diverged" else 0


def run(args) -> dict:
    from ..runs import fit_and_record
    from ..train import MFModel, check_memory

    history = open_history(args)
    t_load = time.perf_counter()
    prepared = prepared_data(args, seed=args.seed)
    load_seconds = time.perf_counter() - t_load
    model = MFModel(**model_kwargs(args))
    train = prepared.train
    check_memory(train.n_users, train.n_items, len(train), model.params["factors"],
                 model.params["early_stopping"])

    def report(stats) -> None:
        if not args.quiet:
            say(epoch_line(stats, model.params.get("eval_k", 10)))

    run = fit_and_record(model, prepared, history=history, source="cli",
                         model_path=args.model_out, save_model=False, k=args.k,
                         definition=args.definition, direction=args.direction,
                         sample=args.sample, callback=report,
                         extra={"load_seconds": load_seconds})
    if model.status_ == "diverged":
        say(f"diverged in epoch {model.diverged_at_[0]}: try a smaller --lr")
    result = run.record.to_dict()
    if run.model_path:
        result["model_path"] = run.model_path
    if history is not None:
        result["run_id"] = run.run_id
        result["history_db"] = str(history.path)
    if not args.json:
        print("  ".join(f"{k}={result[k]}" for k in _SHOWN if result.get(k) is not None))
    return result


def epoch_line(stats, k: int) -> str:
    """One epoch as a line of text: the figures that mean something for this run."""
    parts = [f"epoch {stats.epoch:3d}", f"loss {stats.loss:.4g}"]
    for label, v in (("train RMSE", stats.train_rmse), ("val RMSE", stats.val_rmse),
                     (f"P@{k}", stats.precision), (f"NDCG@{k}", stats.ndcg)):
        if v == v:  # NaN: not measured, or meaningless for this solver
            parts.append(f"{label} {v:.4f}")
    parts.append(f"{stats.seconds:.2f}s  {stats.ratings_per_s / 1e6:.1f}M rows/s")
    return "  ".join(parts)

"""``python -m mfcore runs``: the run history from the command line, with full control.

``list`` prints the runs (every setting is in ``export``'s CSV); ``note`` and ``tag`` change any
run's note and tags, ``delete`` deletes any runs — the dashboard lets a browser session change
only its own runs, the command line every run.
"""
from __future__ import annotations

from .args import positive_int, say

_LIST = ["id", "created", "source", "owner", "status", "data", "solver", "factors", "epochs",
         "val_rmse", "precision_at_k", "tags", "note"]


def add_parser(sub) -> None:
    r = sub.add_parser("runs", help="list, annotate, delete or export recorded runs",
                       description=__doc__.splitlines()[0])
    r.add_argument("--history-db", help="the run history (default: $MFX_HISTORY_DB, else "
                   "~/.local/share/mfcore/runs.sqlite)")
    ops = r.add_subparsers(dest="op", required=True)
    ls = ops.add_parser("list", help="the runs, newest first")
    ls.add_argument("--mine", action="store_true", help="only runs made by this login")
    ls.add_argument("--limit", type=positive_int, default=50)
    note = ops.add_parser("note", help="set a run's note ('' clears it)")
    note.add_argument("run_id", type=positive_int)
    note.add_argument("text")
    tag = ops.add_parser("tag", help="set a run's tags, comma-separated ('' clears them)")
    tag.add_argument("run_id", type=positive_int)
    tag.add_argument("tags")
    delete = ops.add_parser("delete", help="delete runs, whoever made them")
    delete.add_argument("run_ids", type=positive_int, nargs="+")
    delete.add_argument("--delete-model-files", action="store_true")
    export = ops.add_parser("export", help="every run and setting as CSV")
    export.add_argument("out", help="the CSV file to write")
    for op in (ls, note, tag, delete, export):
        op.add_argument("--json", action="store_true")
    r.set_defaults(func=run)


def run(args) -> dict:
    from ..runstore import RunHistory
    history = RunHistory(args.history_db)
    history.ensure()
    if args.op == "list":
        frame = history.list_runs(owner=history.owner if args.mine else None,
                                  limit=args.limit)
        if not args.json:
            print(frame[_LIST].to_string(index=False) if len(frame) else "no runs recorded")
        return {"runs": frame[_LIST].assign(created=frame["created"].astype(str))
                .to_dict(orient="records"), "history_db": str(history.path)}
    if args.op in ("note", "tag"):
        history.annotate(args.run_id, **({"note": args.text} if args.op == "note"
                                         else {"tags": args.tags}))
        say(f"run {args.run_id}: {args.op} saved")
        return {"run_id": args.run_id, "history_db": str(history.path)}
    if args.op == "delete":
        n = history.delete_runs(args.run_ids, delete_model_files=args.delete_model_files)
        say(f"deleted {n} of {len(args.run_ids)} runs")
        return {"deleted": n, "history_db": str(history.path)}
    history.export_csv(args.out)
    say(f"wrote {args.out}")
    return {"out": args.out, "history_db": str(history.path)}

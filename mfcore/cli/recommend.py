"""``python -m mfcore recommend``: top-N items, top fans, similar items, or a folded-in user."""
from __future__ import annotations

from ..errors import MFError
from .args import Parser, add_data_args, load_data, positive_int, say
from .evaluate import lookup, model_ids, remap


def add_parser(sub) -> None:
    r = sub.add_parser(
        "recommend", help="top-N songs for a user, fans or similar songs, fold-in",
        description="With --user, the items the user already has are left out: from --data "
                    "when given, else from the seen-items file saved beside the model "
                    "(seen-<fingerprint>.npz, written when the model was saved with its data), "
                    "else none. The output says which: 'excluded' in the JSON, a line on stderr. "
                    "--user without --data reads only what the list needs from the model file "
                    "(the item factors, the user's row, the ids it looks up or shows); the "
                    "other questions, and --data, load the whole model.")
    r.add_argument("model", help="model file written by train --model-out")
    who = r.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="raw user id: top-N items")
    who.add_argument("--fans-of", help="raw item id: its top fans")
    who.add_argument("--similar-to", help="raw item id: most similar items")
    who.add_argument("--items", help="comma-separated raw item ids: fold in a new user")
    r.add_argument("--n", type=positive_int, default=10)
    r.add_argument("--data", help="training data, to leave out items the user already has "
                                  "(default: the seen-items file beside the model, if any)")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=run)


def run(args) -> dict:
    if args.user is not None and not args.data:
        from ..userrec import recommend_from_file

        found = recommend_from_file(args.model, args.user, n=args.n)
        if found is not None:  # None: a version-1 file, read whole below
            rows = [{"id": i, "index": int(x), "score": float(s)}
                    for i, x, s in zip(found.item_ids, found.items, found.scores)]
            excluded = ({"source": "none", "path": None, "n_items": 0} if found.seen is None
                        else {"source": "seen-file", "path": str(found.seen_path),
                              "n_items": int(len(found.seen))})
            return _show(args, "items", rows, excluded)
    return _run_loaded(args)


def _run_loaded(args) -> dict:
    from .. import recommend as rec
    from ..modelio import load_model

    model, meta = load_model(args.model)
    user_ids, item_ids = model_ids(meta, args.model, "recommend")

    def find(ids, raw, what):
        idx = lookup(ids, [raw])[0]
        if idx < 0:
            raise MFError(f"unknown {what} id {raw!r}")
        return int(idx)

    excluded = None
    if args.user is not None:
        user = find(user_ids, args.user, "user")
        exclude, excluded = _exclusion(args, model, user, user_ids, item_ids)
        idx, scores = rec.recommend(model, user, n=args.n, exclude=exclude)
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
    return _show(args, kind, rows, excluded)


def _show(args, kind: str, rows: list, excluded: dict | None) -> dict:
    """Print the list (unless ``--json``) and return the command's JSON object."""
    if not args.json:
        if excluded is not None:
            say(_excluded_text(excluded))
        for r_ in rows:
            print(f"{r_['id']}\t{r_['score']:.4f}")
    out = {"kind": kind, "results": rows}
    if excluded is not None:
        out["excluded"] = excluded
    return out


def _excluded_text(excluded: dict) -> str:
    if excluded["source"] == "none":
        return ("excluded nothing: the model has no seen-items file beside it (pass --data to "
                "leave out the items the user has)")
    where = "--data" if excluded["source"] == "data" else "the seen-items file"
    return f"excluded the user's {excluded['n_items']} items, from {where} {excluded['path']}"


def _exclusion(args, model, user: int, user_ids, item_ids):
    """What to leave out of ``user``'s recommendations, and where it came from:
    ``{'source': 'data'|'seen-file'|'none', 'path', 'n_items'}``."""
    import numpy as np

    from ..seen import seen_items

    if args.data:
        data = remap(load_data(_data_args(args.data)), user_ids, item_ids)
        mine = np.unique(data.user_rows(user)[0])
        return mine, {"source": "data", "path": args.data, "n_items": int(len(mine))}
    found = seen_items(args.model, model.data_fingerprint_, model.n_users_, model.n_items_, user)
    if found is None:
        return None, {"source": "none", "path": None, "n_items": 0}
    items, path = found
    return items, {"source": "seen-file", "path": str(path), "n_items": int(len(items))}


def _data_args(path: str):
    """The data options at their defaults (from the one place that defines them) for ``path``."""
    parser = Parser(prog="recommend --data")
    add_data_args(parser)
    return parser.parse_args(["--", path])

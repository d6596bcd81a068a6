"""``python -m mfcore evaluate``: score a saved model on data prepared as for training."""
from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import MFError, ModelFileError
from ..idcodec import find_int
from ..modelfile import without_ids
from .args import add_data_args, add_eval_args, add_prepare_args, prepared_data, say


def add_parser(sub) -> None:
    e = sub.add_parser("evaluate", help="score a saved model on data",
                       description="Prepare the data as for training (the split seeded by the "
                                   "model's seed, so the same data and options give the "
                                   "training split back), then score the validation rows.")
    e.add_argument("model", help="model file written by train --model-out")
    add_data_args(e)
    add_prepare_args(e)
    add_eval_args(e, default_k=10)
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=run)


def run(args) -> dict:
    from ..evaluate.accuracy import score_predictions
    from ..modelio import load_model
    from ..runs import ranking_metrics

    model, meta = load_model(args.model)
    model_ids(meta, args.model, "evaluate")
    seed = _seed(meta.get("params"))
    prepared = remap_prepared(prepared_data(args, seed=seed), meta)
    train, val = prepared.train, prepared.val
    result = {"model": str(args.model), "n_users": train.n_users, "n_items": train.n_items}
    target = val if val is not None and len(val) else train
    result.update({k: v for k, v in score_predictions(model, target, train=train).items()
                   if isinstance(v, (int, float))})
    if args.k:
        if not args.sample and (val is not None or args.definition != "heldout"):
            say_estimate(model, prepared, args)
        result.update(ranking_metrics(model, prepared, k=args.k, definition=args.definition,
                                      direction=args.direction, sample=args.sample))
    return result


def model_ids(meta: dict, path, command: str) -> tuple[np.ndarray, np.ndarray]:
    """The raw user and item ids a loaded model carries.

    Raises
    ------
    ModelFileError
        The model was saved without data (``save_model(model, path)``): it has no ids to match
        users and items by.
    """
    if meta.get("user_ids") is None or meta.get("item_ids") is None:
        raise without_ids(path, command)
    return meta["user_ids"], meta["item_ids"]


def _seed(params) -> int:
    """The split seed the model was trained with (0 when the file does not say)."""
    seed = (params or {}).get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise ModelFileError(f"the model file's params hold seed = {str(seed)[:40]}; expected an "
                             "integer between 0 and 2**63 - 1")
    return seed


def say_estimate(model, prepared, args) -> None:
    """Before ranking every subject, say how long it will take (from a short timed sample)."""
    from ..evaluate.estimate import estimate_seconds

    est = estimate_seconds(model, prepared.train, prepared.val, k=args.k,
                           definition=args.definition, direction=args.direction,
                           full_data=prepared.display)
    what = "users" if args.direction == "users" else "items"
    say(f"ranking all {est.n_subjects:,} {what}: about {est.seconds:.1f} s (timed on "
        f"{est.n_timed:,} of them; --sample N ranks a seeded sample instead)")


def remap_prepared(prepared, meta: dict):
    """``prepared`` re-indexed onto the model's id maps (rows of unknown users/items dropped).

    Raises
    ------
    MFError
        None of the data's users and items are known to the model.
    """
    user_ids = np.asarray(meta["user_ids"])
    item_ids = np.asarray(meta["item_ids"])
    sp = prepared.split
    parts = {name: remap(getattr(sp, name), user_ids, item_ids)
             for name in ("train", "val", "test")}
    if parts["train"] is None or len(parts["train"]) == 0:
        raise MFError("none of the data's users and items are known to the model")
    return dataclasses.replace(prepared, display=remap(prepared.display, user_ids, item_ids),
                               split=dataclasses.replace(sp, **parts, rows=None))


def remap(data, user_ids: np.ndarray, item_ids: np.ndarray):
    """``data``'s rows on the id maps ``user_ids``/``item_ids``; None for None."""
    if data is None:
        return None
    u = lookup(user_ids, data.user_ids)[data.users]
    i = lookup(item_ids, data.item_ids)[data.items]
    keep = (u >= 0) & (i >= 0)
    return dataclasses.replace(data, users=u[keep].astype(np.int32),
                               items=i[keep].astype(np.int32), values=data.values[keep],
                               user_ids=user_ids, item_ids=item_ids, runs=(),
                               times=None if data.times is None else data.times[keep])


def lookup(known: np.ndarray, raw) -> np.ndarray:
    """Positions of the raw ids ``raw`` in ``known`` (compared as text); -1 when unknown."""
    raw = list(raw) if not isinstance(raw, np.ndarray) else raw
    if len(raw) <= 8 and all(isinstance(r, str) for r in raw):
        # A few ids (recommend --user): one comparison pass each, not a hash index of every
        # known id (0.4 s for the full MSD's million users).
        return np.array([_find_text(np.asarray(known), r) for r in raw], dtype=np.int64)
    return _as_text(known).get_indexer(_as_text(raw))


def _find_text(known: np.ndarray, raw: str) -> int:
    """Position of ``raw`` in ``known`` compared as text (ids are unique); -1 when absent."""
    if known.dtype.kind in "iu":
        hits = find_int(known, raw)
    elif known.dtype.kind == "O":
        hits = np.flatnonzero(known == raw)
        if not len(hits) and not all(isinstance(k, str) for k in known[:1]):
            return int(_as_text(known).get_indexer([raw])[0])
    else:
        return int(_as_text(known).get_indexer([raw])[0])
    return int(hits[0]) if len(hits) else -1


def _as_text(ids):
    """Ids as a text index (never a fixed-width unicode array: one long id would multiply)."""
    import pandas as pd

    return pd.Index(np.asarray(ids, dtype=object)).astype(str)

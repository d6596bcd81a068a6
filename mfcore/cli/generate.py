"""``python -m mfcore generate``: write a synthetic dataset with planted structure."""
from __future__ import annotations

from pathlib import Path

from .args import nonneg_float, nonneg_int, positive_int, say


def add_parser(sub) -> None:
    g = sub.add_parser("generate", help="write a synthetic dataset with planted structure")
    g.add_argument("out", help="output file (.tsv or .tsv.gz triplets; .csv for ratings)")
    g.add_argument("--shape", default="msd", choices=["msd", "ratings", "playlist"])
    g.add_argument("--users", type=positive_int, default=2000)
    g.add_argument("--items", type=positive_int, default=1000)
    g.add_argument("--interactions", type=positive_int, default=60_000)
    g.add_argument("--rank", type=positive_int, default=8)
    g.add_argument("--noise", type=nonneg_float, default=0.2)
    g.add_argument("--seed", type=nonneg_int, default=0)
    g.add_argument("--metadata-out", help="also write item metadata CSV (title, artist)")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=run)


def run(args) -> dict:
    import numpy as np
    import pandas as pd

    from ..load.synthetic import generate

    data = generate(args.users, args.items, args.interactions, rank=args.rank, shape=args.shape,
                    noise=args.noise, seed=args.seed)
    out = Path(args.out)
    frame = pd.DataFrame({"user": data.user_ids[data.users], "item": data.item_ids[data.items],
                          "value": data.values})
    if args.shape != "ratings":
        frame["value"] = frame["value"].astype(np.int64)
    frame.to_csv(out, sep="," if out.suffix == ".csv" else "\t", header=out.suffix == ".csv",
                 index=False)
    if args.metadata_out:
        data.item_meta.rename_axis("item_id").to_csv(args.metadata_out)
    say(f"wrote {len(data):,} rows ({data.n_users:,} users, {data.n_items:,} items) to {out}")
    return {"path": str(out), **data.summary()}

"""Training speed: SGD throughput against Surprise's SVD, and parallel against single-thread.

Run from the repo root::

    python benchmarks/bench_train.py            # all parts
    python benchmarks/bench_train.py --skip-msd # without the 10M-row synthetic MSD part

Part 1 (MovieLens 100k, or an equally sized synthetic set when ../shared/data is absent):
ratings per second in an epoch at latent size 100 with Surprise's default hyperparameters, for
Surprise ``SVD`` (reference, same split, same run) and mfcore single-thread / parallel / auto;
validation RMSE of each. Part 2: an epoch on a synthetic MSD-shaped set (10M triplets, 1M users,
380k songs, k=64), single-thread against parallel. Part 3: first-call time of the kernels, cold
(empty numba cache, fresh process) and warm (cache present). Needs ``pip install scikit-surprise``
for part 1's reference (benchmark-only; not an app requirement).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mfcore.evaluate.accuracy import score_predictions  # noqa: E402
from mfcore.interactions import Interactions  # noqa: E402
from mfcore.load.synthetic import generate  # noqa: E402
from mfcore.train import MFModel  # noqa: E402

ML100K = ROOT.parent / "shared" / "data" / "movielens" / "ml-100k" / "u.data"
DEFAULTS = dict(factors=100, epochs=20, lr=0.005, reg=0.02, init_std=0.1)


def movielens() -> tuple[Interactions, str]:
    if ML100K.exists():
        raw = np.loadtxt(ML100K, dtype=np.int64)
        return Interactions.from_raw(raw[:, 0], raw[:, 1], raw[:, 2].astype(np.float32),
                                     source="ml-100k"), "MovieLens 100k"
    return generate(943, 1682, 100_000, shape="ratings", seed=0), "synthetic (ML-100k sized)"


def rmse(model, test: Interactions, train: Interactions) -> float:
    """RMSE with Surprise's conventions: unknown users/items drop their terms, predictions are
    clipped to the rating range."""
    scale = (float(train.values.min()), float(train.values.max()))
    return score_predictions(model, test, train=train, clip=scale)["rmse"]


def surprise_svd(train: Interactions, test: Interactions, params: dict):
    try:
        from surprise import SVD, Dataset, Reader
    except ImportError:
        return None
    import pandas as pd

    df = pd.DataFrame({"u": train.users, "i": train.items, "r": train.values})
    reader = Reader(rating_scale=(float(train.values.min()), float(train.values.max())))
    trainset = Dataset.load_from_df(df, reader).build_full_trainset()
    algo = SVD(n_factors=params["factors"], n_epochs=params["epochs"], lr_all=params["lr"],
               reg_all=params["reg"], init_std_dev=params["init_std"], random_state=0)
    t0 = time.perf_counter()
    algo.fit(trainset)
    seconds = time.perf_counter() - t0
    preds = algo.test(list(zip(test.users, test.items, test.values)))
    err = np.array([p.r_ui - p.est for p in preds])
    return seconds, float(np.sqrt(np.mean(err ** 2)))


def ours(train, test, threads: int, params: dict, repeat: int = 5):
    best = None
    for _ in range(repeat):
        model = MFModel(**params, threads=threads, seed=0).fit(train)
        sgd = sum(len(train) / h.ratings_per_s for h in model.history_)
        if best is None or sgd < best[0]:
            best = (sgd, model)
    return best[0], rmse(best[1], test, train), best[1].threads_used_


def part1() -> None:
    data, name = movielens()
    mask = np.random.default_rng(0).random(len(data)) >= 0.2
    train, test = data.subset(mask), data.subset(~mask)
    n = len(train) * DEFAULTS["epochs"]
    print(f"\n== SGD throughput: {name}, {len(train):,} training ratings, k=100, 20 epochs, "
          f"γ=0.005, λ=0.02 ==")
    MFModel(**{**DEFAULTS, "epochs": 1}).fit(train)  # load the cached kernels
    ref = surprise_svd(train, test, DEFAULTS)
    if ref is None:
        print("scikit-surprise is not installed: no reference (pip install scikit-surprise)")
    else:
        print(f"{'Surprise SVD (reference)':34s} {n / ref[0] / 1e6:7.2f} M ratings/s  "
              f"fit {ref[0]:6.2f} s  val RMSE {ref[1]:.4f}")
    for label, threads in (("mfcore single-thread", 1), ("mfcore parallel (2 threads)", 2),
                           ("mfcore auto (threads=0)", 0)):
        sgd, err, used = ours(train, test, threads, DEFAULTS)
        line = (f"{label:34s} {n / sgd / 1e6:7.2f} M ratings/s  sgd {sgd:6.3f} s  "
                f"val RMSE {err:.4f}  (threads used: {used})")
        if ref is not None:
            line += f"  → {ref[0] / sgd:5.1f}× Surprise, ΔRMSE {err - ref[1]:+.4f}"
        print(line)


def part2() -> None:
    print("\n== Epoch time on a synthetic MSD-shaped set: 10M triplets, 1M users, 380k songs, "
          "k=64 ==")
    t0 = time.perf_counter()
    data = generate(1_000_000, 380_000, 10_000_000, shape="msd", seed=0)
    print(f"generated {len(data):,} rows, {data.n_users:,} users, {data.n_items:,} songs in "
          f"{time.perf_counter() - t0:.1f} s")
    data = data.with_values(np.log1p(data.values))
    times = {}
    for threads in (1, 2):
        model = MFModel(factors=64, epochs=2, lr=0.005, reg=0.02, threads=threads)
        model.fit(data)
        sgd = [len(data) / h.ratings_per_s for h in model.history_]
        times[threads] = min(sgd)
        print(f"threads={threads}: SGD epoch {min(sgd):6.2f} s ({len(data) / min(sgd) / 1e6:5.2f} "
              f"M ratings/s), epoch incl. exact loss/RMSE pass "
              f"{min(h.seconds for h in model.history_):6.2f} s, train RMSE "
              f"{model.history_[-1].train_rmse:.4f}")
    print(f"parallel speed-up: {times[1] / times[2]:.2f}× (target ≥ 1.6×)")


COLD_SNIPPET = """
import sys, time, numpy as np
t0 = time.perf_counter()
from mfcore.load.synthetic import generate
from mfcore.train import MFModel
d = generate(200, 100, 2000, seed=0)
t1 = time.perf_counter()
MFModel(factors=8, epochs=1, solver=sys.argv[1], monitor=sys.argv[2]).fit(d)
print(f"{time.perf_counter() - t1:.3f}")
"""
#: (what, solver, monitor): biased SGD watching RMSE (the kernels of the first version), and the
#: play-count default, ALS watching NDCG (its kernels and the ranking probe's).
COLD_CASES = [("SGD, RMSE", "sgd", "val_rmse"), ("ALS, NDCG probe", "als", "ndcg")]


def part3() -> None:
    print("\n== First training call in a fresh process (JIT compile vs numba cache) ==")
    for what, solver, monitor in COLD_CASES:
        cache = Path(tempfile.mkdtemp(prefix="mfcore-numba-cache-"))
        env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": str(ROOT)}
        try:
            for label in ("cold (empty cache, compiles)", "warm (cache filled by the run above)"):
                out = subprocess.run([sys.executable, "-c", COLD_SNIPPET, solver, monitor],
                                     env=env, check=True, capture_output=True,
                                     text=True).stdout.strip()
                print(f"{what:16s} {label:38s} first fit: {float(out):6.3f} s")
        finally:
            shutil.rmtree(cache, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-msd", action="store_true", help="skip the 10M-row part")
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}")
    part1()
    if not args.skip_msd:
        part2()
    part3()


if __name__ == "__main__":
    main()

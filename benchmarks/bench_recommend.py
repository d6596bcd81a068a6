"""Recommendations for one user from a saved model: the seen-items file against ``--data``.

    python benchmarks/bench_recommend.py                  # 10M lines, then the MSD-sized model
    python benchmarks/bench_recommend.py --lines 2000000 --no-msd

Part 1 writes ``--lines`` MSD-format triplets (``bench_load.generate_msd_file``: 40-hex user
ids, ``SO`` + 16-character song ids, about 1M users and 385k songs per 48M lines, scaled), loads
them, saves a model with random factors (``--factors``) and its data, so the seen-items file
(:mod:`mfcore.seen`) is written beside it, and times ``python -m mfcore recommend model.npz
--user U --json`` in a fresh process (wall seconds, best of ``--repeat``, the interpreter's
start and imports included) for the most active user:

- seen file      no ``--data``: the user's items come from ``seen-<fingerprint>.npz``
- --data cached  ``--data file``: the parse cache already holds the file (content-keyed)
- --data cold    ``--data file`` with an empty parse cache (the file is parsed)

and checks the three give the same recommendations. Then the parts of the seen-file path in
this process: ``load_model``, ``seen_items`` (the one user's slice) and the ranking.

Part 2 (skip with ``--no-msd``) builds the full MSD's shape without a file: 1,019,318 users,
384,546 songs, 48,373,586 random rows; saves the model and its seen file and times the seen-file
command again, for the 48M model.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

MSD = (1_019_318, 384_546, 48_373_586)


def random_model(data, factors: int, seed: int = 0):
    import numpy as np

    from mfcore.model import FactorModel

    rng = np.random.default_rng(seed)
    return FactorModel(
        user_factors=rng.standard_normal((data.n_users, factors), dtype=np.float32) * 0.1,
        item_factors=rng.standard_normal((data.n_items, factors), dtype=np.float32) * 0.1,
        user_bias=np.zeros(data.n_users, np.float32),
        item_bias=np.log1p(data.item_counts()).astype(np.float32),
        global_mean=1.0, params={"factors": factors}, status="fitted")


def cli(args: list[str], env: dict, repeat: int) -> tuple[float, dict]:
    """Best wall seconds of ``python -m mfcore recommend ARGS --json`` and its JSON, with
    ``out['cpu_s']``: the child's user + system CPU seconds of that run (the wall figure
    includes waiting for the cores other processes hold)."""
    best, out = (float("inf"), 0.0), None
    for _ in range(repeat):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "mfcore", "recommend", *args, "--json"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
        wall = time.perf_counter() - t0
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
        best = min(best, (wall, cpu))
        if res.returncode != 0:
            raise SystemExit(f"recommend failed: {res.stderr.strip()}")
        out = json.loads(res.stdout.strip().splitlines()[-1])
    out["cpu_s"] = best[1]
    return best[0], out


def cli_imports(env: dict) -> float:
    """CPU seconds of ``python -m mfcore recommend --help`` (best of 3)."""
    best = float("inf")
    for _ in range(3):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "mfcore", "recommend", "--help"], cwd=ROOT,
                       env=env, capture_output=True, timeout=300, check=True)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        best = min(best, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
    return best


def parts(model_path: Path, user: str, repeat: int) -> dict:
    """Seconds of each step of the seen-file path, in this process (best of ``repeat``)."""
    from mfcore.cli.evaluate import lookup
    from mfcore.modelio import load_model
    from mfcore.recommend import recommend
    from mfcore.seen import seen_items

    best: dict[str, float] = {}
    for _ in range(repeat):
        t = [time.perf_counter()]
        model, meta = load_model(model_path)
        t.append(time.perf_counter())
        u = int(lookup(meta["user_ids"], [user])[0])
        t.append(time.perf_counter())
        items, _ = seen_items(model_path, model.data_fingerprint_, model.n_users_,
                              model.n_items_, u)
        t.append(time.perf_counter())
        recommend(model, u, n=10, exclude=items)
        t.append(time.perf_counter())
        for name, a, b in zip(("load_model", "user lookup", "seen_items", "rank"), t, t[1:]):
            best[name] = min(best.get(name, float("inf")), b - a)
    return best


def part1(tmp: Path, lines: int, factors: int, repeat: int) -> None:
    from bench_load import generate_msd_file

    from mfcore.load import load_dataset
    from mfcore.modelio import save_model

    path = tmp / "plays.txt"
    t0 = time.perf_counter()
    n = generate_msd_file(path, lines)
    print(f"wrote {n:,} lines ({path.stat().st_size / 2**20:,.0f} MiB) in "
          f"{time.perf_counter() - t0:.1f} s")
    env = {**os.environ, "MFCORE_CACHE_DIR": str(tmp / "cache")}
    t0 = time.perf_counter()
    data = load_dataset(path, cache_dir=tmp / "cache", use_cache=True)
    print(f"parsed {len(data):,} rows, {data.n_users:,} users × {data.n_items:,} songs in "
          f"{time.perf_counter() - t0:.1f} s (parse cache written)")
    model_path = tmp / "models" / "model.npz"
    t0 = time.perf_counter()
    save_model(random_model(data, factors), model_path, data=data)
    side = next(model_path.parent.glob("seen-*.npz"))
    print(f"saved the model ({model_path.stat().st_size / 2**20:,.0f} MiB) and its seen file "
          f"({side.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - t0:.1f} s")
    u = int(data.user_counts().argmax())
    user = str(data.user_ids[u])
    print(f"user {user} ({int(data.user_counts()[u]):,} songs)\n")
    seen_s, a = cli([str(model_path), "--user", user], env, repeat)
    cached_s, b = cli([str(model_path), "--user", user, "--data", str(path)], env, repeat)
    cold_env = {**env, "MFCORE_CACHE_DIR": str(tmp / "empty-cache")}
    cold_s, c = cli([str(model_path), "--user", user, "--data", str(path)], cold_env, 1)
    same = a["results"] == b["results"] == c["results"]
    print(f"{'recommend --user, fresh process':34s} {'wall s':>7s} {'CPU s':>7s}   excluded")
    for name, s, r in (("seen file", seen_s, a), ("--data, parse cache warm", cached_s, b),
                       ("--data, cold (parse)", cold_s, c)):
        print(f"{name:34s} {s:7.2f} {r['cpu_s']:7.2f}   {r['excluded']['n_items']:,} "
              f"({r['excluded']['source']})")
    imports = cli_imports(env)
    print(f"(python -m mfcore recommend --help alone: {imports:.2f} s CPU: interpreter + imports)")
    print(f"same recommendations: {same}; seen file {cached_s / seen_s:.1f}x faster than "
          f"--data with a warm cache, {cold_s / seen_s:.1f}x than cold\n")
    show_parts(model_path, user, repeat)


def show_parts(model_path: Path, user: str, repeat: int) -> None:
    p = parts(model_path, user, repeat)
    print("in one process: " + ", ".join(f"{k} {v:.3f} s" for k, v in p.items())
          + f"; total {sum(p.values()):.3f} s")


def part2(tmp: Path, factors: int, repeat: int) -> None:
    import numpy as np

    from mfcore.interactions import Interactions
    from mfcore.modelio import save_model

    n_users, n_items, n_rows = MSD
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    w = rng.lognormal(0, 1.0, n_users)
    per_user = np.maximum(rng.multinomial(n_rows - n_users, w / w.sum()) + 1, 1)
    users = np.repeat(np.arange(n_users, dtype=np.int32), per_user)
    items = rng.integers(0, n_items, len(users), dtype=np.int32)
    data = Interactions(users, items, np.ones(len(users), np.float32),
                        np.array([f"{k:040x}" for k in range(n_users)], dtype=object),
                        np.array([f"SO{k:016d}" for k in range(n_items)], dtype=object))
    print(f"\nMSD-sized: {len(data):,} rows, {n_users:,} users × {n_items:,} songs built in "
          f"{time.perf_counter() - t0:.1f} s")
    model_path = tmp / "msd" / "model.npz"
    t0 = time.perf_counter()
    save_model(random_model(data, factors), model_path, data=data)
    side = next(model_path.parent.glob("seen-*.npz"))
    print(f"saved the model ({model_path.stat().st_size / 2**20:,.0f} MiB) and its seen file "
          f"({side.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - t0:.1f} s")
    u = int(np.argmax(per_user))
    user = str(data.user_ids[u])
    del data, users, items
    s, r = cli([str(model_path), "--user", user], dict(os.environ), repeat)
    print(f"recommend --user (seen file), fresh process: {s:.2f} s wall, {r['cpu_s']:.2f} s "
          f"CPU, excluded "
          f"{r['excluded']['n_items']:,} songs of user {user}")
    show_parts(model_path, user, repeat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-msd", action="store_true", help="skip the MSD-sized model")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_recommend_") as d:
        part1(Path(d), args.lines, args.factors, args.repeat)
        if not args.no_msd:
            part2(Path(d), args.factors, args.repeat)


if __name__ == "__main__":
    main()

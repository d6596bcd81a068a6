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

and checks the three give the same recommendations. Then, in this process, the steps of the
seen-file command (:func:`mfcore.userrec.recommend_from_file`, which reads the model file in
part) and, for comparison, of the whole-model path (``load_model``, the id lookup,
``seen_items``, the ranking) that ``--data`` and the other questions take.

Part 2 (skip with ``--no-msd``) builds the full MSD's shape without a file: 1,019,318 users,
384,546 songs, 48,373,586 random rows; saves the model and its seen file and times the seen-file
command again, for the 48M model (fresh process: best wall and best CPU seconds of
``--repeat`` runs; the machine may be shared, so the CPU figure is the steadier one), checks its
list against the whole-model path's, and prints both paths' steps.
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
    ``out['cpu_s']``: the child's least user + system CPU seconds of the runs (the wall figure
    includes waiting for the cores other processes hold)."""
    best_wall, best_cpu, out = float("inf"), float("inf"), None
    for _ in range(repeat):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        res = subprocess.run([sys.executable, "-m", "mfcore", "recommend", *args, "--json"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
        best_wall = min(best_wall, time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        best_cpu = min(best_cpu, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime))
        if res.returncode != 0:
            raise SystemExit(f"recommend failed: {res.stderr.strip()}")
        out = json.loads(res.stdout.strip().splitlines()[-1])
    out["cpu_s"] = best_cpu
    return best_wall, out


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
    """Seconds of each step of the whole-model path, in this process (best of ``repeat``)."""
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


def new_parts(model_path: Path, user: str, repeat: int) -> dict:
    """Seconds of the steps of :func:`mfcore.userrec.recommend_from_file`, taken one by one
    with the functions it calls (best of ``repeat``), and of the function itself."""
    import numpy as np

    from mfcore.idcodec import check_block, find_text, text_at
    from mfcore.modelfile import FACTORS, ModelFile, check_arrays, check_finite, read_meta
    from mfcore.seen import seen_items
    from mfcore.topn import top_n
    from mfcore.userrec import recommend_from_file

    best: dict[str, float] = {}
    names = ("open + member checks", "meta_json", "item factors (mapped, checked)",
             "user lookup", "user row", "seen_items", "score + top_n", "ids of the list")
    for _ in range(repeat):
        t = [time.perf_counter()]
        with ModelFile(model_path) as mf:
            t.append(time.perf_counter())
            meta = read_meta(mf)
            t.append(time.perf_counter())
            arr = {name: mf.mapped(name) for name in FACTORS}
            check_arrays(arr, meta)
            Q, bi = np.asarray(arr["item_factors"]), np.asarray(arr["item_bias"])
            check_finite("item_factors", Q)
            check_finite("item_bias", bi)
            t.append(time.perf_counter())
            offs, data = mf.mapped("user_ids_offsets"), mf.mapped("user_ids_data")
            check_block(offs, data, "user_ids")
            u = int(find_text(offs, data, user)[0])
            t.append(time.perf_counter())
            p = np.array(arr["user_factors"][u])
            check_finite("user_factors", p)
            t.append(time.perf_counter())
            seen, _ = seen_items(model_path, meta["fingerprint"], len(arr["user_factors"]),
                                 len(Q), u)
            t.append(time.perf_counter())
            idx, _ = top_n(Q @ p + bi, 10, seen)
            t.append(time.perf_counter())
            ioffs, idata = mf.mapped("item_ids_offsets"), mf.mapped("item_ids_data")
            check_block(ioffs, idata, "item_ids")
            [text_at(ioffs, idata, i, "item_ids") for i in idx.tolist()]
            t.append(time.perf_counter())
        for name, a, b in zip(names, t, t[1:]):
            best[name] = min(best.get(name, float("inf")), b - a)
        t0 = time.perf_counter()
        recommend_from_file(model_path, user, 10)
        best["recommend_from_file"] = min(best.get("recommend_from_file", float("inf")),
                                          time.perf_counter() - t0)
    return best


def save_with_seen(data, model_path: Path, factors: int) -> None:
    """Save a random model of ``data`` (so its seen file too) and say how big and how long."""
    from mfcore.modelio import save_model

    t0 = time.perf_counter()
    save_model(random_model(data, factors), model_path, data=data)
    side = next(model_path.parent.glob("seen-*.npz"))
    print(f"saved the model ({model_path.stat().st_size / 2**20:,.0f} MiB) and its seen file "
          f"({side.stat().st_size / 2**20:,.0f} MiB) in {time.perf_counter() - t0:.1f} s")


def part1(tmp: Path, lines: int, factors: int, repeat: int) -> None:
    from bench_load import generate_msd_file

    from mfcore.load import load_dataset

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
    save_with_seen(data, model_path, factors)
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
    p = new_parts(model_path, user, repeat)
    whole = p.pop("recommend_from_file")
    print("in one process, seen-file path (recommend_from_file): " + ", ".join(
        f"{k} {v:.3f} s" for k, v in p.items()) + f"; sum {sum(p.values()):.3f} s, the "
        f"function itself {whole:.3f} s")
    p = parts(model_path, user, repeat)
    print("in one process, whole-model path (--data, --fans-of ...): " + ", ".join(
        f"{k} {v:.3f} s" for k, v in p.items()) + f"; total {sum(p.values()):.3f} s")


def part2(tmp: Path, factors: int, repeat: int) -> None:
    import numpy as np

    from mfcore.interactions import Interactions

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
    save_with_seen(data, model_path, factors)
    u = int(np.argmax(per_user))
    user = str(data.user_ids[u])
    del data, users, items
    s, r = cli([str(model_path), "--user", user], dict(os.environ), repeat)
    print(f"recommend --user (seen file), fresh process: {s:.2f} s wall, {r['cpu_s']:.2f} s "
          f"CPU (best of {repeat}), excluded "
          f"{r['excluded']['n_items']:,} songs of user {user}")
    print(f"same list as the whole-model path: {same_as_whole(model_path, user, r)}")
    show_parts(model_path, user, repeat)


def same_as_whole(model_path: Path, user: str, out: dict) -> bool:
    """Whether the command's JSON is what load_model + recommend + seen_items give."""
    from mfcore.cli.evaluate import lookup
    from mfcore.modelio import load_model
    from mfcore.recommend import recommend
    from mfcore.seen import seen_items

    model, meta = load_model(model_path)
    u = int(lookup(meta["user_ids"], [user])[0])
    items, path = seen_items(model_path, model.data_fingerprint_, model.n_users_,
                             model.n_items_, u)
    idx, scores = recommend(model, u, n=10, exclude=items)
    rows = [{"id": str(meta["item_ids"][i]), "index": int(i), "score": float(s)}
            for i, s in zip(idx, scores)]
    return out["results"] == rows and out["excluded"] == {
        "source": "seen-file", "path": str(path), "n_items": len(items)}


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

"""Benchmark the MSD triplets loader against pandas and plain pyarrow on a generated file.

    python benchmarks/bench_load.py                 # 10M lines
    python benchmarks/bench_load.py --lines 2000000 --keep

A file in the real MSD taste-profile format (40-hex user ids, ``SO`` + 16-character song ids,
grouped by user with each user's songs in order, long-tailed counts; about 1M users and 385k songs
per 48M lines, scaled to ``--lines``) is written to a temporary folder. Every reader then runs in
its own subprocess, which reports wall time and peak RSS minus the RSS it had after its imports
(the kernel's peak mark, VmHWM, is reset after the imports; ``ru_maxrss`` where that is not
possible), so the figures do not include the interpreter and libraries. Readers:

- ours, no cache      ``load_dataset(path, use_cache=False)``
- ours, cold          ``load_dataset(path, use_cache=True)`` with an empty cache (parse + write)
- ours, cached        the same call again (served from the .npz cache)
- pandas read_csv     ``pd.read_csv(path, sep='\\t', header=None)`` (string columns, no codes)
- pandas + factorize  the above plus ``pd.factorize`` of both id columns (what a notebook does to
  get dense indices: the same result as ours)
- pyarrow dict        ``pyarrow.csv.read_csv`` with ``dictionary<int32, string>`` id columns
  (chunked, not unified)

Memory is also given as a multiple of the final row arrays' bytes (12 bytes a row: int32 users,
int32 items, float32 values); the loader's target is under 2.5x.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MSD_LINES, MSD_USERS, MSD_SONGS = 48_373_586, 1_019_318, 384_546


def generate_msd_file(path: Path, n_lines: int, seed: int = 0) -> int:
    """Write ``n_lines`` MSD-format triplets to ``path``; returns the number written."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pcsv

    rng = np.random.default_rng(seed)
    n_users = max(1, round(n_lines * MSD_USERS / MSD_LINES))
    n_songs = max(10, round(n_lines * MSD_SONGS / MSD_LINES))
    w = rng.lognormal(0, 1.0, n_users)
    per_user = rng.multinomial(int(n_lines * 1.08) + 10, w / w.sum())
    per_user = np.minimum(np.maximum(per_user, 1), n_songs)
    users = np.repeat(np.arange(n_users, dtype=np.int64), per_user)
    pop = rng.permutation(1.0 / np.arange(1, n_songs + 1) ** 0.75)
    songs = rng.choice(n_songs, size=len(users), p=pop / pop.sum())
    key = np.unique(users * n_songs + songs)          # grouped by user, songs in order, distinct
    del users, songs
    if len(key) > n_lines:
        key = key[np.sort(rng.choice(len(key), n_lines, replace=False))]
    u = (key // n_songs).astype(np.int32)
    s = (key % n_songs).astype(np.int32)
    counts = np.minimum(np.floor(rng.pareto(1.5, len(key)) + 1), 9667).astype(np.int64)
    user_ids = np.frombuffer(rng.bytes(20 * n_users).hex().encode(), dtype="S40")
    alphabet = np.frombuffer(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", dtype=np.uint8)
    mat = np.empty((n_songs, 18), dtype=np.uint8)
    mat[:, 0], mat[:, 1] = ord("S"), ord("O")
    mat[:, 2:] = alphabet[rng.integers(0, 36, (n_songs, 16))]
    song_ids = np.sort(mat.view("S18").ravel())       # song code order == id order
    schema = pa.schema([("u", pa.string()), ("s", pa.string()), ("c", pa.int64())])
    opts = pcsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")
    with pcsv.CSVWriter(str(path), schema, write_options=opts) as writer:
        for a in range(0, len(key), 1_000_000):
            b = min(a + 1_000_000, len(key))
            writer.write_table(pa.table({
                "u": pa.array(user_ids[u[a:b]], pa.binary()).cast(pa.string()),
                "s": pa.array(song_ids[s[a:b]], pa.binary()).cast(pa.string()),
                "c": pa.array(counts[a:b])}))
    return len(key)


# ---- child: one reader, measured in its own process ----------------------------------------------
def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _reset_peak() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so the imports' own peak is not counted."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _peak_mb(reset: bool) -> float:
    if reset:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024   # KiB on Linux


def child(reader: str, path: str, cache_dir: str) -> None:
    import numpy as np  # noqa: F401
    import pandas as pd
    import pyarrow as pa
    import pyarrow.csv as pcsv

    import pyarrow.compute  # noqa: F401  (imported up front: library code, not load memory)
    import pyarrow.parquet  # noqa: F401

    from mfcore.load import cache, load_dataset, tabular, triplets  # noqa: F401

    import gc
    gc.collect()
    reset = _reset_peak()
    base = _rss_mb()
    t0 = time.perf_counter()
    info: dict = {}
    if reader == "ours-nocache":
        d = load_dataset(path, use_cache=False)
        info = {"rows": len(d), "nbytes": d.nbytes(), "users": d.n_users, "items": d.n_items}
    elif reader in ("ours-cold", "ours-cached"):
        d = load_dataset(path, cache_dir=cache_dir, use_cache=True)
        info = {"rows": len(d), "nbytes": d.nbytes(), "from_cache": d.extra["from_cache"]}
    elif reader == "pandas":
        df = pd.read_csv(path, sep="\t", header=None)
        info = {"rows": len(df)}
    elif reader == "pandas-factorize":
        df = pd.read_csv(path, sep="\t", header=None)
        uc, _ = pd.factorize(df[0])
        ic, _ = pd.factorize(df[1])
        vals = df[2].to_numpy(dtype=np.float32)
        del df
        info = {"rows": len(uc), "nbytes": uc.astype(np.int32).nbytes * 2 + vals.nbytes}
    elif reader == "pyarrow-dict":
        d = pa.dictionary(pa.int32(), pa.string())
        table = pcsv.read_csv(path, pcsv.ReadOptions(column_names=["u", "i", "c"]),
                              pcsv.ParseOptions(delimiter="\t"),
                              pcsv.ConvertOptions(column_types={"u": d, "i": d,
                                                                "c": pa.float32()}))
        info = {"rows": table.num_rows, "chunks": table.column(0).num_chunks}
    else:
        raise SystemExit(f"unknown reader {reader}")
    seconds = time.perf_counter() - t0
    peak = _peak_mb(reset)
    print(json.dumps({"reader": reader, "seconds": seconds, "peak_mb": peak - base, **info}))


def run_child(reader: str, path: Path, cache_dir: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", reader, str(path), str(cache_dir)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"reader": reader, "error": (out.stderr or out.stdout).strip().splitlines()[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tmpdir", default=None, help="where to write the file (default: system)")
    ap.add_argument("--keep", action="store_true", help="keep the generated file and cache")
    ap.add_argument("--child", nargs=3, metavar=("READER", "PATH", "CACHE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(*args.child)
        return
    tmp = Path(tempfile.mkdtemp(prefix="bench_load_", dir=args.tmpdir))
    try:
        path = tmp / "train_triplets.txt"
        t0 = time.perf_counter()
        n = generate_msd_file(path, args.lines, seed=args.seed)
        print(f"generated {n:,} lines, {path.stat().st_size / 2**20:,.0f} MiB in "
              f"{time.perf_counter() - t0:.1f} s ({path})")
        cache_dir = tmp / "cache"
        readers = ["ours-nocache", "ours-cold", "ours-cached", "pandas", "pandas-factorize",
                   "pyarrow-dict"]
        try:
            import polars  # noqa: F401
            print("(polars is installed but not benchmarked here)")
        except ImportError:
            pass
        results = {r: run_child(r, path, cache_dir) for r in readers}
        ours = results["ours-nocache"]
        final_mb = ours.get("nbytes", n * 12) / 2**20
        print(f"\nfinal row arrays: {final_mb:,.0f} MiB ({ours.get('users', 0):,} users, "
              f"{ours.get('items', 0):,} songs, {ours.get('rows', 0):,} rows)\n")
        print(f"{'reader':20s} {'seconds':>8s} {'peak MiB':>9s} {'peak/final':>10s} "
              f"{'ours/this time':>14s} {'ours/this mem':>13s}")
        for r in readers:
            res = results[r]
            if "error" in res:
                print(f"{r:20s} failed: {res['error']}")
                continue
            note = " (from cache)" if res.get("from_cache") else ""
            print(f"{r:20s} {res['seconds']:8.2f} {res['peak_mb']:9.0f} "
                  f"{res['peak_mb'] / final_mb:9.2f}x {ours['seconds'] / res['seconds']:13.2f}x "
                  f"{ours['peak_mb'] / max(res['peak_mb'], 1e-9):12.2f}x{note}")
        ok = ours["peak_mb"] / final_mb < 2.5
        print(f"\nours (no cache) peak = {ours['peak_mb'] / final_mb:.2f}x the final arrays "
              f"(target < 2.5x): {'OK' if ok else 'OVER'}")
        if not results["ours-cached"].get("from_cache"):
            print("warning: the second run was not served from the cache")
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

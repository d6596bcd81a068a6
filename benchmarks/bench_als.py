"""ALS speed: seconds per iteration against implicit's CPU ALS, and 2 threads against 1.

Run from the repo root (``pip install implicit`` for the reference; benchmark-only)::

    python benchmarks/bench_als.py            # MPD sample + 10M-triplet synthetic MSD set
    python benchmarks/bench_als.py --quick    # 2 iterations, a 2M-triplet synthetic set

Part 1: the MPD sample (``../shared/data/mpd_slices``, all pairs) and a synthetic MSD-shaped set
(10M triplets, 1M users, 380k songs, as in ``bench_train.py``), k = 64 and 128, λ = 0.1, α = 10
(linear confidence on MPD's ones, log1p on play counts), 3 CG steps, 2 threads, mfcore's
``ALSRun`` next to ``implicit.cpu.als.AlternatingLeastSquares`` from the same initial factors.
implicit weighs c = α·r, so it is given our confidences c = 1 + α·g(r) with its α = 1: both
solve the same systems, and the objective of both results is printed as a check. Part 2: mfcore
on the synthetic set with 1 thread and with 2. The CPU seconds beside the wall seconds show
when other processes took the cores (wall ≈ CPU/threads on an idle machine).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
import types
import warnings
from contextlib import nullcontext
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mfcore.interactions import Interactions  # noqa: E402
from mfcore.load.synthetic import generate  # noqa: E402
from mfcore.train import als  # noqa: E402

MPD_TAR = (ROOT.parent / "shared" / "data" / "mpd_slices" / "soundscout_sampled"
           / "mpd_sampled_932_slices.tar.gz")
COMMON = dict(reg=0.1, alpha=10.0, cg_steps=3, solve="cg", seed=0)
THREADS = 2


def blas_threads(n: int):
    """Limit BLAS to n threads (threadpoolctl comes with implicit; without it, no limit)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return nullcontext()
    return threadpool_limits(n, "blas")


def initial(data: Interactions, k: int) -> tuple[np.ndarray, np.ndarray]:
    return als.init_factors(data.n_users, k, [0, 0]), als.init_factors(data.n_items, k, [0, 1])


def _thread_cpu(run) -> dict:
    """CPU seconds of each solver thread so far (a benchmark may look at the pool's threads)."""
    threads = run.executor._threads if run.executor is not None else ()
    return {t.ident: time.clock_gettime(time.pthread_getcpuclockid(t.ident)) for t in threads}


def ours(data: Interactions, k: int, kind: str, iters: int, threads: int):
    """Best wall and CPU seconds per iteration of mfcore's ALS, the model-like result, and
    the CPU seconds of the busiest solver thread (the wall time when no other process wants
    the cores)."""
    X, Y = initial(data, k)
    m = types.SimpleNamespace(user_factors_=X, item_factors_=Y,
                              params=dict(COMMON, factors=k, confidence=kind, threads=threads))
    walls, cpus, busiest = [], [], []
    run = als.ALSRun(m, data)  # no BLAS: the Gram matrices are numba kernels too
    try:
        for e in range(1, iters + 1):
            before = _thread_cpu(run)
            t0, c0 = time.perf_counter(), time.process_time()
            assert run.epoch(e, None) == "ok"
            walls.append(time.perf_counter() - t0)
            cpus.append(time.process_time() - c0)
            after = _thread_cpu(run)
            busiest.append(max((v - before.get(t, 0.0) for t, v in after.items()),
                               default=cpus[-1]))
    finally:
        run.close()
    return float(min(walls)), float(min(cpus)), m, float(min(busiest))


def reference(data: Interactions, k: int, kind: str, iters: int):
    """The same with implicit (None when it is not installed)."""
    try:
        import implicit
        import scipy.sparse as sps
    except ImportError:
        return None
    c = als.confidence(data.values, COMMON["alpha"], kind)
    ui = sps.csr_matrix((c, (data.users, data.items)), shape=(data.n_users, data.n_items))
    walls, cpus = [], []
    marks = [time.process_time()]

    def callback(iteration, elapsed, loss):
        walls.append(elapsed)
        marks.append(time.process_time())

    # BLAS at 1 thread inside implicit's own threads, as implicit asks (it warns otherwise).
    with blas_threads(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = implicit.cpu.als.AlternatingLeastSquares(
            factors=k, regularization=COMMON["reg"], alpha=1.0, iterations=iters,
            num_threads=THREADS, random_state=0)
        model.user_factors, model.item_factors = initial(data, k)
        marks[0] = time.process_time()
        model.fit(ui, show_progress=False, callback=callback)
    cpus = np.diff(marks)
    result = types.SimpleNamespace(user_factors_=np.ascontiguousarray(model.user_factors),
                                   item_factors_=np.ascontiguousarray(model.item_factors))
    return float(min(walls)), float(min(cpus)), result


def objective(data: Interactions, m, k: int, kind: str) -> float:
    m.params = dict(COMMON, factors=k, confidence=kind, threads=THREADS)
    run = als.ALSRun(m, data)
    try:
        return run.measure(0, 1.0).loss
    finally:
        run.close()


def part1(sets, ks, iters: int) -> dict:
    """The table against implicit; returns mfcore's results by (data name, k)."""
    print(f"\n== Seconds per ALS iteration, {THREADS} threads, λ={COMMON['reg']}, "
          f"α={COMMON['alpha']}, {COMMON['cg_steps']} CG steps, best of {iters} iterations ==")
    print(f"{'data':24s} {'k':>4s} {'mfcore wall/cpu':>17s} {'implicit wall/cpu':>19s} "
          f"{'implicit/mfcore wall, cpu':>26s} {'objective mfcore/implicit':>26s}")
    results = {}
    for name, data, kind in sets:
        for k in ks:
            results[name, k] = mine = ours(data, k, kind, iters, THREADS)
            wall, cpu, m = mine[:3]
            ref = reference(data, k, kind, iters)
            line = f"{name:24s} {k:4d} {wall:8.2f}/{cpu:6.2f} s"
            if ref is None:
                print(line + "   (implicit not installed: pip install implicit)")
                continue
            ratio = objective(data, m, k, kind) / objective(data, ref[2], k, kind)
            print(line + f" {ref[0]:10.2f}/{ref[1]:6.2f} s {ref[0] / wall:16.2f}×, "
                  f"{ref[1] / cpu:5.2f}× {ratio:26.4f}", flush=True)
    return results


def part2(name: str, data: Interactions, ks, iters: int, done: dict) -> None:
    """1 thread against 2 (the 2-thread runs of part 1 when it ran them)."""
    print(f"\n== mfcore threads on {name} (seconds per iteration, best of {iters}) ==")
    print("(uncontended: 1-thread CPU seconds / the busiest of the 2 threads' CPU seconds, the "
          "speed-up when no other process takes a core)")
    for k in ks:
        one = ours(data, k, "log1p", iters, 1)
        two = done.get((name, k)) or ours(data, k, "log1p", iters, 2)
        print(f"k={k:4d}  1 thread {one[0]:6.2f} s (cpu {one[1]:6.2f})   2 threads "
              f"{two[0]:6.2f} s (cpu {two[1]:6.2f}, busiest thread {two[3]:6.2f})   speed-up "
              f"{one[0] / two[0]:.2f}×, uncontended {one[1] / two[3]:.2f}× (target ≥ 1.7×)",
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="2 iterations on a 2M-triplet synthetic set (and the MPD sample)")
    ap.add_argument("--skip-mpd", action="store_true")
    ap.add_argument("--skip-msd", action="store_true")
    args = ap.parse_args()
    iters = 2 if args.quick else 5
    ks = (64, 128)
    print(f"cores: {os.cpu_count()}; load average: {os.getloadavg()[0]:.2f}")
    sets = []
    if not args.skip_mpd:
        if MPD_TAR.exists():
            from mfcore.load import load_dataset
            sets.append(("MPD sample (all pairs)", load_dataset(str(MPD_TAR), "mpd"), "linear"))
        else:
            print("(MPD sample absent: skipped)")
    if not args.skip_msd:
        n = 2_000_000 if args.quick else 10_000_000
        t0 = time.perf_counter()
        msd = generate(n // 10, int(n * 0.038), n, shape="msd", seed=0)
        name = f"synthetic MSD {len(msd) / 1e6:.0f}M"
        print(f"{name}: {len(msd):,} triplets, {msd.n_users:,} users, {msd.n_items:,} songs "
              f"(generated in {time.perf_counter() - t0:.0f} s)")
        sets.append((name, msd, "log1p"))
    for name, data, _ in sets:
        print(f"{name}: {data.n_users:,} × {data.n_items:,}, {len(data):,} pairs")
    als.ALSRun(types.SimpleNamespace(  # load the cached kernels before timing anything
        params=dict(COMMON, factors=1, confidence="linear", threads=1),
        user_factors_=np.zeros((1, 1), np.float32), item_factors_=np.zeros((1, 1), np.float32)),
        Interactions.from_codes([0], [0], [1.0], np.arange(1), np.arange(1))).close()
    done = part1(sets, ks, iters)
    if not args.skip_msd:
        part2(sets[-1][0], sets[-1][1], ks, iters, done)


if __name__ == "__main__":
    main()

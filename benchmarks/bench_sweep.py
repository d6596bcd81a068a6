"""Sweep speed: a 27-trial grid in one process against 27 separate ``train`` commands.

Run from the repo root::

    python benchmarks/bench_sweep.py [--epochs 20] [--skip-subprocess]

Data: the built-in dataset (``mfcore.load.synthetic.generate()`` defaults, MSD-shaped play
counts), ``log1p`` transform, the CLI's default random 80/20 split with seed 0. Grid: latent size
{10, 20, 40} × lr {0.005, 0.01, 0.02} × reg {0.02, 0.05, 0.1}, 20 epochs, one thread (the CLI
default, deterministic).

Measured, all in the same run:

1. ``run_sweep`` in this process (data generated and split once; the kernels load from numba's
   cache on the first trial): wall time including generation and split.
2. ``python -m mfcore sweep synthetic ... --json`` as ONE subprocess (end to end, interpreter start
   and imports included).
3. The reference: the same 27 configurations as 27 ``python -m mfcore train synthetic ...
   --json`` subprocesses run one after the other, each paying interpreter start, imports, numba
   cache loading, data generation and split.

It prints each time, the ratio reference / sweep, and checks that every trial's validation RMSE
is the same in the sweep and in its ``train`` command (same seed, same split, one thread).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mfcore.load.synthetic import generate  # noqa: E402
from mfcore.prepare import PrepOptions, prepare  # noqa: E402
from mfcore.tune import grid_trials, run_sweep  # noqa: E402

FACTORS = (10, 20, 40)
LRS = (0.005, 0.01, 0.02)
REGS = (0.02, 0.05, 0.1)


def _cli(args: list[str]) -> tuple[dict, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "mfcore", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if proc.returncode not in (0, 3):  # 3: a diverged `train` (its JSON is still printed)
        raise SystemExit(f"`python -m mfcore {' '.join(args)}` failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--skip-subprocess", action="store_true",
                    help="only the in-process sweep (no reference)")
    args = ap.parse_args()
    trials = grid_trials(factors=FACTORS, lr=LRS, reg=REGS, epochs=args.epochs)
    print(f"grid: {len(trials)} trials = factors {FACTORS} × lr {LRS} × reg {REGS}, "
          f"{args.epochs} epochs, threads=1; data: generate() defaults (msd), log1p, "
          f"random 80/20 split, seed 0")
    print(f"cpus: {os.cpu_count()}  python {sys.version.split()[0]}")

    # 1. in process
    t0 = time.perf_counter()
    prepared = prepare(generate(shape="msd", seed=0),
                       PrepOptions(transform="log1p", val_frac=0.2, seed=0))
    data, sp = prepared.display, prepared.split
    t_data = time.perf_counter() - t0
    res = run_sweep(prepared, trials, base_params={"seed": 0, "threads": 1}, kind="grid")
    t_inproc = time.perf_counter() - t0
    fit = sum(t.fit_seconds for t in res.trials)
    print(f"\n{len(data):,} rows ({data.n_users:,} users × {data.n_items:,} songs); "
          f"train {len(sp.train):,} / val {len(sp.val):,}")
    print(f"[1] run_sweep in process:          {t_inproc:7.2f} s  (data {t_data:.2f} s, "
          f"training {fit:.2f} s, imports + scoring + bookkeeping "
          f"{t_inproc - t_data - fit:.2f} s)")
    b = res.best
    print(f"    best: factors={b['params']['factors']} lr={b['params']['lr']} "
          f"reg={b['params']['reg']}  val RMSE {b['val_rmse']:.4f}; importance (eta²): "
          + ", ".join(f"{k} {v:.2f}" for k, v in res.importance.items()))
    if args.skip_subprocess:
        return

    common = ["synthetic", "--transform", "log1p", "--epochs", str(args.epochs), "--json",
              "--quiet", "--seed", "0", "--threads", "1"]
    # 2. one sweep command
    out, t_sweep_cli = _cli(["sweep", *common, "--factors", ",".join(map(str, FACTORS)),
                             "--lr", ",".join(map(str, LRS)),
                             "--reg", ",".join(map(str, REGS))])
    print(f"[2] one `python -m mfcore sweep`:  {t_sweep_cli:7.2f} s  ({out['n_trials']} trials)")

    # 3. reference: 27 train commands
    t0 = time.perf_counter()
    diffs = []
    for trial, mine in zip(trials, res.trials):
        r, _ = _cli(["train", *common, "--factors", str(trial["factors"]),
                     "--lr", str(trial["lr"]), "--reg", str(trial["reg"])])
        diffs.append(abs(r["val_rmse"] - mine.val_rmse))
    t_ref = time.perf_counter() - t0
    print(f"[3] 27 × `python -m mfcore train`: {t_ref:7.2f} s  ({t_ref / len(trials):.2f} s "
          f"per command)")
    print(f"\nratio reference / sweep command:    {t_ref / t_sweep_cli:5.1f}×")
    print(f"ratio reference / in-process sweep: {t_ref / t_inproc:5.1f}×")
    print(f"max |val RMSE(sweep) − val RMSE(train)| over the 27 trials: {max(diffs):.2e}")


if __name__ == "__main__":
    main()

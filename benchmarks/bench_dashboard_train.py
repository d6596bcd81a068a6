"""SGD throughput on the command line and from the dashboard, with Streamlit's post-run GC on/off.

Run from the repo root (needs /usr/bin/chromium and the playwright package)::

    python benchmarks/bench_dashboard_train.py              # 5M ratings, k = 64, 30 epochs, 2 threads
    python benchmarks/bench_dashboard_train.py --interactions 2000000 --epochs 10

One synthetic ratings file (the built-in generator, ``--interactions`` rows) is written to a
temporary data folder. The same SGD run (``--factors``, ``--epochs``, ``--threads``, everything
else at its defaults: the same preparation, split and seed) is made

1. by ``python -m mfcore train FILE --json`` (the CLI);
2. from the Train page of a real ``streamlit run`` server, in headless Chromium, the page left
   open so its live panel polls every 0.5 s — once with ``runner.postScriptGC`` off (the
   repository's config) and once with it on (``--runner.postScriptGC true``, Streamlit's
   default);
3. by the CLI again (how much the machine's load moved meanwhile).

The dashboard's run is read back from the run history (``MFX_HISTORY_DB`` in the temporary
folder). Printed for each: ratings/s over the whole fit (training rows x epochs / fit seconds),
the median of the epochs' own ratings/s (the figure the Train page and the CLI show; the fit
also holds the first-call kernel load, which the server has done at start-up), the process CPU seconds spent during the fit (server:
every thread, the script runs included), the script runs and the forced collections after them
(counted by tests/app/gc_probe_server.py), and the dashboard/CLI ratios. Nothing is asserted:
the machine may be shared, so read the two CLI runs and the load averages as the noise.

Reference run (2 shared cores, load average 4.5 at the start; 5M ratings, 4.0M training rows,
k = 64, 30 epochs, 2 threads): CLI 8.59 and 7.99 M ratings/s over the fit (median epoch 14.5
and 13.9 M/s); dashboard with postScriptGC off 9.63 M/s (18.6), 26 script runs, 0 forced
collections, server CPU 14.7 s; on 4.44 M/s (9.0), 55 runs, 55 collections, server CPU 24.2 s.
Dashboard/CLI: 1.16 off, 0.54 on over the fit (1.31 and 0.63 per epoch).
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
PROBE = ROOT / "tests" / "app" / "gc_probe_server.py"


def write_data(folder: Path, n_interactions: int) -> tuple[Path, int]:
    """The built-in generator's ratings, clipped to 1-5 (the loader takes no negative values),
    as a CSV file."""
    import numpy as np
    import pandas as pd

    from mfcore.load.synthetic import generate
    users, items = max(1000, n_interactions // 40), max(500, n_interactions // 200)
    data = generate(users, items, n_interactions, shape="ratings", seed=2)
    path = folder / "ratings.csv"
    pd.DataFrame({"user": data.user_ids[data.users], "item": data.item_ids[data.items],
                  "value": np.clip(data.values, 1.0, 5.0)}).to_csv(path, index=False)
    return path, data.n_users


def summarise(record: dict, cpu: float | None, wall: float) -> dict:
    """Throughput figures of a run record (the ``train --json`` object or a history row)."""
    hist = record["history"]
    epochs = len(hist)
    return {"n_train": record["n_train"], "epochs": epochs, "fit_s": record["fit_seconds"],
            "rate": record["n_train"] * epochs / record["fit_seconds"],
            "epoch_rate": statistics.median(h["ratings_per_s"] for h in hist),
            "cpu_s": cpu, "wall_s": wall, "threads": record.get("threads"),
            "solver": record["params"].get("solver"), "factors": record["params"].get("factors")}


def cli_run(path: Path, args) -> dict:
    cmd = [sys.executable, "-m", "mfcore", "train", str(path), "--solver", "sgd",
           "--factors", str(args.factors), "--epochs", str(args.epochs),
           "--threads", str(args.threads), "--json", "--no-history"]
    import resource
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"CLI failed ({proc.returncode}): {proc.stderr[-2000:]}")
    record = json.loads(proc.stdout.strip().splitlines()[-1])
    return summarise(record, cpu, wall)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path, gc_on: bool) -> tuple[subprocess.Popen, str, Path]:
    port, probe = free_port(), folder / f"probe-{gc_on}.json"
    env = {**os.environ, "MFX_GC_PROBE": str(probe), "MFX_DATA_DIR": str(folder),
           "MFX_HISTORY_DB": str(folder / f"runs-{gc_on}.sqlite"), "PYTHONUNBUFFERED": "1"}
    env.pop("STREAMLIT_RUNNER_POST_SCRIPT_GC", None)
    log = open(folder / f"streamlit-{gc_on}.log", "wb")
    proc = subprocess.Popen(
        [sys.executable, str(PROBE), "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1",
         *(["--runner.postScriptGC", "true"] if gc_on else [])],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return proc, url, probe
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("server did not start")
        time.sleep(0.3)


def dashboard_run(folder: Path, path: Path, n_users: int, args, gc_on: bool) -> dict:
    import psutil
    from playwright.sync_api import expect, sync_playwright

    from mfcore.runstore import RunHistory
    proc, url, probe = start_server(folder, gc_on)
    server = psutil.Process(proc.pid)
    history = RunHistory(folder / f"runs-{gc_on}.sqlite")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                        args=["--no-sandbox", "--disable-gpu",
                                              "--disable-dev-shm-usage"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(120_000)
            expect.set_options(timeout=120_000)
            main = page.locator('[data-testid="stMain"]')

            def settle() -> None:
                page.wait_for_load_state("networkidle")
                expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0)

            def go(title: str) -> None:
                page.locator('[data-testid="stSidebarNav"]').get_by_role(
                    "link", name=title, exact=True).click()
                expect(main.get_by_role("heading", name=title, exact=True)).to_be_visible()
                settle()

            def number(label: str, value: int) -> None:
                box = main.get_by_role("spinbutton", name=label, exact=True)
                box.fill(str(value))
                box.press("Enter")
                page.wait_for_timeout(500)
                settle()
                expect(box).to_have_value(str(value))

            page.goto(url)
            settle()
            go("Data")
            main.get_by_role("tab", name="File on the server").click()
            field = main.get_by_role("textbox", name="Or type a path (relative to the data folder)")
            field.fill(path.name)
            field.press("Enter")
            settle()
            main.get_by_role("button", name="Load from server").click()
            sidebar = page.locator('[data-testid="stSidebar"]')
            expect(sidebar).to_contain_text(f"{n_users:,} users", timeout=600_000)
            settle()
            go("Train")
            number("Latent factors k", args.factors)
            number("Epochs", args.epochs)
            number("Threads", args.threads)
            before = json.loads(probe.read_text())
            cpu0 = sum(server.cpu_times()[:2])
            t0 = time.perf_counter()
            main.get_by_role("button", name="Start training").click()
            while history.list_runs().empty:  # the page stays open, its panel polling
                page.wait_for_timeout(250)
            wall = time.perf_counter() - t0
            cpu = sum(server.cpu_times()[:2]) - cpu0
            after = json.loads(probe.read_text())
            browser.close()
        run = history.get_run(int(history.list_runs()["id"].iloc[0]))
        out = summarise({**run, "fit_seconds": run.get("fit_seconds")
                         or run["metrics"].get("fit_seconds"),
                         "threads": run.get("threads") or run["params"].get("threads")},
                        cpu, wall)
        out.update(runs=after["runs"] - before["runs"],
                   collections=after["post_run_collections"] - before["post_run_collections"],
                   post_script_gc=after["post_script_gc"])
        return out
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def line(name: str, r: dict, ref: dict | None) -> str:
    ratio = f"  x{r['rate'] / ref['rate']:.2f} of the CLI" if ref else ""
    extra = (f", {r['runs']} script runs, {r['collections']} forced collections "
             f"(postScriptGC={r['post_script_gc']}), server CPU {r['cpu_s']:.1f} s"
             if "runs" in r else f", process CPU {r['cpu_s']:.1f} s (load + fit)")
    return (f"{name:<18} {r['solver']} k={r['factors']} threads={r['threads']}: "
            f"{r['rate'] / 1e6:6.2f} M ratings/s over the fit "
            f"({r['n_train']:,} rows x {r['epochs']} epochs in {r['fit_s']:.2f} s; "
            f"median epoch {r['epoch_rate'] / 1e6:.2f} M/s){extra}; wall {r['wall_s']:.1f} s"
            f"{ratio}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--interactions", type=int, default=5_000_000)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-dash-train-") as tmp:
        folder = Path(tmp)
        path, n_users = write_data(folder, args.interactions)
        print(f"data: {path.name}, {args.interactions:,} ratings, {n_users:,} users; SGD "
              f"k={args.factors}, {args.epochs} epochs, {args.threads} threads; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
        cli = cli_run(path, args)
        print(line("CLI", cli, None), flush=True)
        off = dashboard_run(folder, path, n_users, args, gc_on=False)
        print(line("dashboard, GC off", off, cli), flush=True)
        on = dashboard_run(folder, path, n_users, args, gc_on=True)
        print(line("dashboard, GC on", on, cli), flush=True)
        cli2 = cli_run(path, args)
        print(line("CLI again", cli2, None), flush=True)
        for name, field in (("over the fit", "rate"), ("median epoch", "epoch_rate")):
            ref = (cli[field] + cli2[field]) / 2
            print(f"dashboard/CLI {name} (CLI = mean of both runs): GC off "
                  f"{off[field] / ref:.2f}, GC on {on[field] / ref:.2f}")
        print(f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()

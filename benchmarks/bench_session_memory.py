"""What closed browser sessions leave behind in the server's memory.

Run from the repo root (needs /usr/bin/chromium and the playwright package)::

    python benchmarks/bench_session_memory.py              # 20 sessions, then a 150 s wait
    python benchmarks/bench_session_memory.py --sessions 40 --wait 150

The server is started through a small launcher that writes a census of its live objects
(after a full garbage collection) whenever it receives SIGUSR1: how many of the app's own
objects (datasets, preparations, models, jobs, snapshots, Streamlit sessions) are alive and how
many bytes of numpy data they hold. Each browser session opens /train, trains a small model,
opens Evaluate, runs an evaluation and closes its tab. Printed: RSS and the census at the start,
after the sessions, and after waiting past Streamlit's 2-minute keep-for-reconnect window (one
more session is opened and closed then, since Streamlit only drops expired sessions when its
session store is next written).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"

LAUNCHER = r"""
import collections, gc, json, os, signal, sys, threading

def census(*_):
    gc.collect()
    import numpy as np
    counts, nbytes, seen = collections.Counter(), collections.Counter(), set()
    names = {"Interactions", "Prepared", "Split", "MFModel", "FactorModel", "Bundle", "Job",
             "JobSnapshot", "AppSession", "SessionState", "RankingResult", "LoadJob"}
    for o in gc.get_objects():
        name = type(o).__name__
        if name not in names:
            continue
        counts[name] += 1
        for v in getattr(o, "__dict__", {}).values():
            if isinstance(v, np.ndarray) and id(v) not in seen:
                seen.add(id(v))
                nbytes[name] += v.nbytes
    types = collections.Counter(type(o).__name__ for o in gc.get_objects())
    import ctypes
    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    before = rss()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open(os.environ["MFX_CENSUS_FILE"], "w") as f:
        json.dump({"counts": counts, "mib": {k: round(v / 2**20, 1) for k, v in nbytes.items()},
                   "types": dict(types.most_common(400)), "blocks": sys.getallocatedblocks(),
                   "trim": [round(before), round(rss())], "threads": threading.active_count()},
                  f)

signal.signal(signal.SIGUSR1, census)
from streamlit.web.cli import main
sys.argv = ["streamlit", *sys.argv[1:]]
main()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "MFX_HISTORY_DB": str(tmp / "runs.sqlite"),
           "MFX_DATA_DIR": str(tmp), "MFX_CENSUS_FILE": str(tmp / "census.json")}
    log = open(tmp / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, "run", "app.py",
                             "--server.headless", "true", "--server.port", str(port),
                             "--server.address", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return proc, url
        except OSError:
            time.sleep(0.3)
    raise RuntimeError((tmp / "server.log").read_text()[-3000:])


def measure(proc: subprocess.Popen, tmp: Path, what: str) -> dict:
    import psutil
    path = tmp / "census.json"
    path.unlink(missing_ok=True)
    os.kill(proc.pid, signal.SIGUSR1)
    for _ in range(100):
        if path.exists() and path.stat().st_size:
            break
        time.sleep(0.1)
    time.sleep(0.2)
    census = json.loads(path.read_text())
    rss = psutil.Process(proc.pid).memory_info().rss / 2**20
    print(f"{what}: RSS {rss:.0f} MiB ({census['trim'][0]} -> {census['trim'][1]} MiB after "
          f"malloc_trim); {census['blocks']:,} Python blocks, {census['threads']} threads; "
          f"alive {dict(sorted(census['counts'].items()))}; numpy MiB held {census['mib']}",
          flush=True)
    return {"rss": rss, **census}


def grown(before: dict, after: dict, n: int = 12) -> str:
    """The object types whose count grew most between two censuses."""
    diff = {t: c - before["types"].get(t, 0) for t, c in after["types"].items()}
    top = sorted(diff.items(), key=lambda kv: -kv[1])[:n]
    return ", ".join(f"{t} +{d:,}" for t, d in top if d > 0)


async def one_session(browser, url: str) -> None:
    from playwright.async_api import expect
    ctx = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await ctx.new_page()
    main = page.locator('[data-testid="stMain"]')
    await page.goto(f"{url}/train")
    await expect(main.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    dialog = page.get_by_role("dialog", name="Page not found")
    await page.wait_for_timeout(500)
    if await dialog.count():
        await dialog.get_by_role("button", name="Close").click()
    field = main.get_by_role("spinbutton", name="Iterations", exact=True)
    await field.fill("3")
    await field.press("Enter")
    await expect(field).to_have_value("3")
    await page.wait_for_timeout(500)
    await main.get_by_role("button", name="Start training").click()
    await expect(main.get_by_text("Finished").first).to_be_visible()
    await page.locator('[data-testid="stSidebarNav"]').get_by_role(
        "link", name="Evaluate", exact=True).click()
    await main.get_by_role("button", name="Run evaluation").click()
    await expect(main.get_by_text("Coverage").first).to_be_visible()
    await ctx.close()


async def sessions(url: str, n: int) -> None:
    from playwright.async_api import async_playwright, expect
    expect.set_options(timeout=120_000)
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking"])
        for _ in range(n):
            await one_session(browser, url)
        await browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--wait", type=float, default=150.0,
                    help="seconds to wait after the sessions (Streamlit keeps a closed "
                         "session 120 s for a reconnect)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="mfx-memory-"))
    proc, url = start(tmp)
    try:
        asyncio.run(sessions(url, 1))  # the first visit loads the kernels and the built-in data
        time.sleep(2)
        base = measure(proc, tmp, "after 1 session (baseline)")
        asyncio.run(sessions(url, args.sessions))
        time.sleep(2)
        mid = measure(proc, tmp, f"after {args.sessions} more sessions, closed")
        print(f"  grown: {grown(base, mid)}")
        time.sleep(args.wait)
        asyncio.run(sessions(url, 1))
        time.sleep(2)
        end = measure(proc, tmp, f"{args.wait:.0f} s later, after one more session")
        print(f"  grown since the baseline: {grown(base, end)}")
    finally:
        proc.terminate()
        proc.wait(10)
    log = (tmp / "server.log").read_text(errors="replace")
    if "Traceback" in log:
        print("server log has a traceback:\n" + log[-3000:])


if __name__ == "__main__":
    main()

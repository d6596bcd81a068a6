"""Many people at once: N browser sessions on one server with 2 training slots.

Run from the repo root (needs /usr/bin/chromium and the playwright package)::

    python benchmarks/bench_sessions.py --epochs 3              # 6 sessions x 3 short runs
    python benchmarks/bench_sessions.py --rounds 2 --epochs 3 --reference  # first with
                                                                # Streamlit's file watcher on
    python benchmarks/bench_sessions.py --spy                   # py-spy dumps every 2 s

Each session opens /train, starts a run (the page's settings, or ``--epochs`` iterations) on the
built-in data, retrying while both slots are taken, waits for "Finished" and for its Start
button to come back, opens Evaluate and runs an evaluation, and goes back to Train. Printed:
every wait (Start -> "Finished", "Run evaluation" -> result), pages left with Start disabled
("stuck"), the server's health-probe latency, CPU share and RSS, and its CPU time with the
share of the event-loop thread (the one that serves every session).

Reference run (2 shared cores, other jobs running; 6 sessions x 2 rounds, --epochs 3):
before the fixes, Start -> Finished median 7.1 s (max 15.4), evaluation median 2.9 s (max
11.5), event loop 7.0 s of 23.0 s CPU; after, median 2.7-4.4 s (max 6.5-10.5), evaluation
median 2.2 s (max 4.5), event loop 3.1-3.2 s of 18.7-25.4 s CPU.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(env_extra: dict, log_path: Path, args: list[str] = ()
                 ) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **env_extra}
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", *args],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.read().decode().strip() == "ok":
                    return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start:\n{log_path.read_text()[-3000:]}")
        time.sleep(0.3)


class Probe(threading.Thread):
    """Health-probe latency and the server's CPU share, sampled until stopped."""

    def __init__(self, url: str, pid: int, every: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.url, self.pid, self.every = url, pid, every
        self.latency: list[float] = []
        self.cpu: list[float] = []
        self.rss: list[float] = []
        self.main_cpu = self.total_cpu = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        import psutil
        proc = psutil.Process(self.pid)
        proc.cpu_percent()
        while not self.stop.is_set():
            t0 = time.perf_counter()
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=60) as r:
                    r.read()
            except OSError:
                pass
            self.latency.append(time.perf_counter() - t0)
            if self.latency[-1] > 1.0:
                log(f"health probe took {self.latency[-1]:.1f} s")
            self.cpu.append(proc.cpu_percent())
            self.rss.append(proc.memory_info().rss / 2**20)
            main = [t for t in proc.threads() if t.id == self.pid]
            if main:
                self.main_cpu = main[0].user_time + main[0].system_time
            self.total_cpu = sum(proc.cpu_times()[:2])
            self.stop.wait(self.every)


T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}] {msg}", flush=True)


async def session(browser, url: str, n: int, rounds: int, out: dict, epochs: int | None) -> None:
    ctx = await browser.new_context(viewport={"width": 1300, "height": 900})
    page = await ctx.new_page()
    try:
        await rounds_of(page, url, n, rounds, out, epochs)
    except BaseException:
        shot = Path(tempfile.gettempdir()) / f"mfx-session-{n}-failed.png"
        await page.screenshot(path=str(shot), full_page=True)
        log(f"session {n} failed at {page.url}; screenshot {shot}")
        raise
    await ctx.close()


async def rounds_of(page, url: str, n: int, rounds: int, out: dict, epochs: int | None) -> None:
    from playwright.async_api import expect
    page.set_default_timeout(120_000)
    main = page.locator('[data-testid="stMain"]')
    nav = page.locator('[data-testid="stSidebarNav"]')
    await asyncio.sleep(n * 1.0)  # people do not all arrive in the same second
    await page.goto(f"{url}/train")
    await expect(main.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    # A fresh server's first visitors of a page URL meet Streamlit's "Page not found" dialog
    # (its legacy pages/ mode, before the frame's st.navigation has run once).
    dialog = page.get_by_role("dialog", name="Page not found")
    await page.wait_for_timeout(500)
    if await dialog.count():
        await dialog.get_by_role("button", name="Close").click()
    if epochs:
        field = main.get_by_role("spinbutton", name="Iterations", exact=True)
        await field.fill(str(epochs))
        await field.press("Enter")
        await expect(field).to_have_value(str(epochs))
        await page.wait_for_timeout(500)
    for r in range(rounds):
        refused = 0
        while True:
            try:
                await expect(main.get_by_role("button", name="Start training")).to_be_enabled(
                    timeout=20_000)
            except AssertionError:
                log(f"session {n}: Start stayed disabled for 20 s; reloading")
                out.setdefault("stuck", []).append(n)
                await page.reload()
                continue
            before = job_in(page.url)
            t0 = time.perf_counter()
            await main.get_by_role("button", name="Start training").click()
            busy = main.get_by_text("already running on this server")
            while job_in(page.url) in (before, None) and not await busy.count():
                await asyncio.sleep(0.05)
            if job_in(page.url) not in (before, None):
                break
            refused += 1
            await asyncio.sleep(1.0)
        status = main.get_by_role("button", name="Start training")
        done = main.get_by_text("Finished").or_(main.get_by_text("Cancelled")).first
        await expect(done).to_be_visible(timeout=180_000)
        shown = time.perf_counter() - t0
        try:
            await expect(status).to_be_enabled(timeout=30_000)
        except AssertionError:
            log(f"session {n}: 'Finished' shown but Start still disabled after 30 s")
            out.setdefault("stuck", []).append(n)
            await page.reload()
        out.setdefault("finished", []).append(shown)
        out.setdefault("refused", []).append(refused)
        await nav.get_by_role("link", name="Evaluate", exact=True).click()
        await expect(main.get_by_role("button", name="Run evaluation")).to_be_visible()
        t0 = time.perf_counter()
        await main.get_by_role("button", name="Run evaluation").click()
        await expect(main.get_by_text("Coverage").first).to_be_visible(timeout=180_000)
        waited = time.perf_counter() - t0
        out.setdefault("evaluated", []).append(waited)
        await nav.get_by_role("link", name="Train", exact=True).click()
        await expect(main.get_by_role("heading", name="Train", exact=True)).to_be_visible()
        log(f"session {n} round {r}: finished {shown:.1f} s, "
            f"evaluated {waited:.1f} s, refused {refused}")


def job_in(url: str) -> str | None:
    from urllib.parse import parse_qs, urlparse
    return (parse_qs(urlparse(url).query).get("job") or [None])[0]


async def scenario(url: str, sessions: int, rounds: int, epochs: int | None) -> dict:
    from playwright.async_api import async_playwright, expect
    expect.set_options(timeout=120_000)
    out: dict = {}
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--disable-background-networking"])
        await asyncio.gather(*(session(browser, url, n, rounds, out, epochs) for n in range(sessions)))
        await browser.close()
    return out


def spy(pid: int, path: Path, stop: threading.Event) -> None:
    with open(path, "w") as f:
        while not stop.is_set():
            f.write(f"==== {time.perf_counter() - T0:.1f}\n")
            f.flush()
            subprocess.run(["py-spy", "dump", "--pid", str(pid)], stdout=f,
                           stderr=subprocess.STDOUT)
            stop.wait(2.0)


def summary(name: str, xs: list[float], unit: str = "s") -> str:
    if not xs:
        return f"{name}: none"
    return (f"{name}: median {statistics.median(xs):.2f} {unit}, max {max(xs):.2f} {unit} "
            f"(n={len(xs)})")


def measure(args, server_args: list[str], title: str) -> None:
    """One server, the scenario against it, and the figures printed under ``title``."""
    tmp = Path(tempfile.mkdtemp(prefix="mfx-sessions-"))
    proc, url = start_server({"MFX_HISTORY_DB": str(tmp / "runs.sqlite"),
                              "MFX_DATA_DIR": str(tmp), "MFX_MAX_JOBS": "2"},
                             tmp / "server.log", server_args)
    probe = Probe(url, proc.pid)
    probe.start()
    if args.spy:
        threading.Thread(target=spy, args=(proc.pid, tmp / "spy.log", probe.stop),
                         daemon=True).start()
        print(f"py-spy dumps: {tmp / 'spy.log'}")
    try:
        t0 = time.perf_counter()
        out = asyncio.run(scenario(url, args.sessions, args.rounds, args.epochs))
        wall = time.perf_counter() - t0
    finally:
        probe.stop.set()
        probe.join()
        proc.terminate()
        proc.wait(10)
    print(f"== {title}: {args.sessions} sessions x {args.rounds} rounds in {wall:.1f} s")
    print(summary("Start -> Finished", out.get("finished", [])))
    print(summary("Run evaluation -> result", out.get("evaluated", [])))
    print(f"refused starts: {sum(out.get('refused', []))}; stuck pages: {out.get('stuck', [])}")
    print(summary("health probe", probe.latency))
    print(summary("server CPU", probe.cpu, "%"))
    print(summary("server RSS", probe.rss, "MiB"))
    print(f"server CPU time: {probe.total_cpu:.1f} s, of which the event loop thread "
          f"{probe.main_cpu:.1f} s", flush=True)
    log = (tmp / "server.log").read_text(errors="replace")
    if "Traceback" in log:
        print("server log has a traceback:\n" + log[-3000:])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=None, help="iterations per run (default: "
                    "the page's)")
    ap.add_argument("--server-arg", action="append", default=[],
                    help="passed to streamlit run (e.g. --server-arg=--server.fileWatcherType=auto)")
    ap.add_argument("--reference", action="store_true",
                    help="first run the scenario with Streamlit's file watcher on (its default), "
                         "as the reference")
    ap.add_argument("--spy", action="store_true", help="py-spy dumps of the server every 2 s")
    args = ap.parse_args()
    if args.reference:
        measure(args, [*args.server_arg, "--server.fileWatcherType=auto"],
                "reference: file watcher on")
    measure(args, args.server_arg, "the app's configuration")


if __name__ == "__main__":
    main()

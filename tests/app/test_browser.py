"""The app in a real browser: Playwright driving Debian's /usr/bin/chromium (never a download).

Starts ``streamlit run app.py`` on a free port, opens every page (no exception box anywhere),
restores the default settings and sees the field show them, trains on the built-in data and
sees the live curve change beside the run's settings card, finds the least popular song with
the server-side search, opens recommendations and an evaluation. Screenshots go to the test's tmp_path and, when set, to ``$MFX_SCREENSHOT_DIR``.
"""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.browser

if not Path(CHROMIUM).exists():
    pytest.skip(f"{CHROMIUM} is absent (apt-get install -y chromium)", allow_module_level=True)
try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:
    pytest.skip("the playwright Python package is absent (pip install playwright)",
                allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(args: list[str], env: dict, log_path: Path):
    """A Streamlit server (``python args... --server.port P`` on 127.0.0.1) that is healthy:
    yields its URL; stops it afterwards and fails on a traceback in its log."""
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, *args, "--server.headless", "true", "--server.port", str(port),
             "--server.address", "127.0.0.1"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.read().decode().strip() == "ok":
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not become healthy:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        tail = log_path.read_text(errors="replace")
        assert "Traceback" not in tail, tail[-4000:]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("data")
    log_path = tmp_path_factory.mktemp("log") / "streamlit.log"
    env = {**os.environ, "MFX_DATA_DIR": str(data), "PYTHONUNBUFFERED": "1"}
    with served(["-m", "streamlit", "run", "app.py"], env, log_path) as url:
        yield url


def least_popular_song() -> tuple[str, str, str]:
    """The built-in data's least popular song: its name, id and option label (the data are
    seeded)."""
    from mfcore.prepare import prepare
    from ui.pickers import option_label
    from ui.session import builtin_dataset
    prepared = prepare(builtin_dataset())
    i = int(prepared.items_by_popularity[-1])
    return (str(prepared.item_names[i]), str(prepared.display.item_ids[i]),
            option_label(prepared, i))


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                              args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                    "--disable-background-networking"])
        yield b
        b.close()


def test_pages_training_and_recommendations(server, browser, tmp_path):
    shots = [tmp_path]
    if os.environ.get("MFX_SCREENSHOT_DIR"):
        extra = Path(os.environ["MFX_SCREENSHOT_DIR"])
        extra.mkdir(parents=True, exist_ok=True)
        shots.append(extra)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    expect.set_options(timeout=20_000)  # a shared machine: waits, never timings
    main = page.locator('[data-testid="stMain"]')

    def settle() -> None:
        page.wait_for_load_state("networkidle")
        expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0, timeout=30_000)

    def shoot(name: str) -> None:
        # Streamlit scrolls inside its main block, so grow the window to the content's height.
        height = page.evaluate(
            "() => document.querySelector('[data-testid=\"stMain\"]').scrollHeight")
        page.set_viewport_size({"width": 1400, "height": max(1000, min(int(height), 6000))})
        page.wait_for_timeout(400)  # let plotly re-lay out
        for folder in shots:
            page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
        page.set_viewport_size({"width": 1400, "height": 1000})

    def snap(name: str) -> None:
        settle()
        assert page.locator('[data-testid="stException"]').count() == 0, f"exception on {name}"
        shoot(name)

    def go(title: str) -> None:
        page.locator('[data-testid="stSidebarNav"]').get_by_role(
            "link", name=title, exact=True).click()
        expect(main.get_by_role("heading", name=title, exact=True)).to_be_visible(timeout=30_000)

    # A fresh server whose first visitor opens a page directly: app.py (the frame) runs first
    # and routes to the page (Streamlit's legacy pages/ mode never matches a URL), so the
    # sidebar's session status is there too.
    page.goto(f"{server}/train")
    expect(main.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    sidebar = page.locator('[data-testid="stSidebar"]')
    expect(sidebar.get_by_text("This session")).to_be_visible()
    settle()
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.url.split("?")[0].endswith("/train")

    # Home: explains the tool, the built-in data is already there
    page.goto(server)
    expect(main.get_by_role("heading", name="MF Explorer")).to_be_visible()
    expect(main.get_by_text("3,000 users · 1,500 songs")).to_be_visible()
    snap("0_home")

    go("Data")
    expect(main.get_by_text("Current dataset")).to_be_visible()
    expect(main.locator('[data-testid="stPlotlyChart"]')).to_have_count(2)
    snap("1_data")

    # Train: "Restore defaults" reaches the field the browser shows (its identity is its key,
    # so the browser keeps its own value unless the page sends the new one), and stays there.
    go("Train")
    epochs = main.get_by_role("spinbutton", name="Iterations", exact=True)  # ALS: play counts

    def set_epochs(value: str) -> None:
        epochs.fill(value)
        epochs.press("Enter")
        page.wait_for_timeout(500)  # the rerun that stores the value
        settle()
        expect(epochs).to_have_value(value)

    set_epochs("400")
    main.get_by_role("button", name="Restore defaults").click()
    settle()
    expect(epochs).to_have_value("15")
    go("Data")
    go("Train")
    expect(epochs).to_have_value("15")

    # A long run so the live curve can be seen moving, then cancel
    set_epochs("3000")
    status = main.locator(".st-key-live_status")
    t0 = time.perf_counter()
    main.get_by_role("button", name="Start training").click()
    expect(main.get_by_role("button", name="Cancel")).to_be_visible(timeout=10_000)
    expect(main.locator('[data-testid="stPlotlyChart"]').first).to_be_visible(timeout=60_000)
    first_point = time.perf_counter() - t0
    print(f"\nStart -> first live curve point: {first_point:.2f} s")
    before = status.inner_text()
    expect(status).not_to_have_text(before, timeout=10_000)  # epochs keep coming in
    expect(status).to_contain_text("ETA")
    assert page.locator('[data-testid="stException"]').count() == 0
    card = main.locator(".st-key-run_card")  # the run's own settings, beside its curves
    expect(card).to_contain_text("Settings of this run")
    expect(card).to_contain_text("3,000 iterations")
    shoot("2_train_running")
    for folder in shots:
        card.screenshot(path=str(folder / "2b_run_card.png"))
    main.get_by_role("button", name="Cancel").click()
    expect(main.get_by_text("Cancelled after")).to_be_visible(timeout=10_000)
    snap("3_train_cancelled")

    go("Recommend")
    expect(main.get_by_text("Top 10 recommendations")).to_be_visible()
    expect(main.get_by_text("What they played")).to_be_visible()
    snap("4_recommend")
    # The song picker searches the whole catalogue on the server: the least popular song is
    # found by a word of its title and its id.
    name, song_id, label = least_popular_song()
    main.get_by_role("tab", name="For a song").click()
    search = main.get_by_role("searchbox", name="Search songs", exact=True)
    search.fill(f"{name.split()[-1]} {song_id}")
    search.press("Enter")
    settle()
    expect(main.get_by_text("1 song matches")).to_be_visible()
    picked = main.get_by_role("combobox", name="Song", exact=True)
    expect(picked).to_have_value(label)
    expect(main.get_by_text("Most similar songs")).to_be_visible()
    snap("4b_song_search")
    main.get_by_role("tab", name="Song map").click()
    expect(main.locator('[data-testid="stPlotlyChart"]').last).to_be_visible()
    snap("5_song_map")

    go("Evaluate")
    main.get_by_role("button", name="Run evaluation").click()
    expect(main.get_by_text("precision@10").first).to_be_visible(timeout=60_000)
    # An ALS model scores preferences, not values: no RMSE panel.
    expect(main.get_by_role("heading", name="RMSE against baselines")).to_have_count(0)
    snap("6_evaluate")

    # Any other page in the navigation (added by later issues) must open cleanly too.
    known = {"Home", "Data", "Train", "Recommend", "Evaluate"}
    nav = page.locator('[data-testid="stSidebarNav"]').get_by_role("link")
    titles = [t.strip().split("\n")[-1].strip() for t in nav.all_inner_texts()]  # past the icon
    others = [t for t in titles if t and t not in known]
    for n, title in enumerate(others, start=7):
        go(title)
        if title == "Runs":  # the cancelled run above, with every setting a column, and owners
            expect(main.get_by_text("Every setting is a column")).to_be_visible()
            expect(main.get_by_role("radio", name="Mine")).to_have_count(1)
            expect(main.get_by_text("on disk", exact=False)).to_be_visible()  # model files
        snap(f"{n}_{title.lower().replace(' ', '_')}")
    page.close()

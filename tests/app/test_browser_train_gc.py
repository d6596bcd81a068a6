"""Training from the dashboard is not slowed by the page that watches it.

Streamlit forces a full ``gc.collect(2)`` after every script run by default; the Train page's
live panel reruns every 0.5 s, and each collection (90-100 ms with plotly loaded) held the GIL
the training threads need between chunks: SGD ran 2.5x slower with the page open than on the
command line. ``.streamlit/config.toml`` turns ``runner.postScriptGC`` off. This test serves the
app with that config (``streamlit run`` in a probe, tests/app/gc_probe_server.py), trains SGD
from the Train page in Chromium while its panel polls, and checks that no polling rerun forced
a collection. It times nothing: benchmarks/bench_dashboard_train.py measures the throughput.
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from test_browser import browser, served  # noqa: F401 - skips the module without Chromium

pytestmark = pytest.mark.browser

from playwright.sync_api import expect  # noqa: E402

PROBE = Path(__file__).with_name("gc_probe_server.py")


def read_probe(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {"runs": 0}


@pytest.fixture(scope="module")
def probed_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gcprobe")
    probe = tmp / "probe.json"
    env = {**os.environ, "MFX_GC_PROBE": str(probe), "MFX_DATA_DIR": str(tmp),
           "MFX_HISTORY_DB": str(tmp / "runs.sqlite"), "PYTHONUNBUFFERED": "1"}
    env.pop("STREAMLIT_RUNNER_POST_SCRIPT_GC", None)  # the repository's config decides
    with served([str(PROBE), "app.py"], env, tmp / "streamlit.log") as url:
        yield url, probe


def settle(page) -> None:
    page.wait_for_load_state("networkidle")
    expect(page.locator('[data-testid="stStatusWidget"]')).to_have_count(0)


def test_polling_the_train_page_forces_no_collection(probed_server, browser):  # noqa: F811
    url, probe = probed_server
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    expect.set_options(timeout=30_000)  # a shared machine: waits, never timings
    main = page.locator('[data-testid="stMain"]')
    page.goto(url)
    settle(page)
    page.locator('[data-testid="stSidebarNav"]').get_by_role(
        "link", name="Train", exact=True).click()
    expect(main.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    settle(page)
    main.get_by_role("combobox", name="Solver").click()
    page.get_by_role("option", name="SGD", exact=True).click()
    epochs = main.get_by_role("spinbutton", name="Epochs", exact=True)
    expect(epochs).to_be_visible()
    epochs.fill("5000")
    epochs.press("Enter")
    page.wait_for_timeout(500)
    expect(epochs).to_have_value("5000")

    main.get_by_role("button", name="Start training").click()
    expect(main.get_by_role("button", name="Cancel")).to_be_visible()
    status = main.locator(".st-key-live_status")
    expect(status).to_contain_text("ETA")
    start = read_probe(probe)
    deadline = time.monotonic() + 90
    while read_probe(probe)["runs"] < start["runs"] + 12 and time.monotonic() < deadline:
        page.wait_for_timeout(500)  # the panel reruns itself while SGD trains
    during = read_probe(probe)
    expect(main.get_by_role("button", name="Cancel")).to_be_visible()  # still training
    main.get_by_role("button", name="Cancel").click()
    expect(main.get_by_text("Cancelled after")).to_be_visible()
    page.close()
    assert during["runs"] >= start["runs"] + 12, "the live panel did not poll"
    assert during["post_run_collections"] == 0, (
        f"{during['post_run_collections']} of {during['runs']} script runs forced a full "
        "gc.collect, holding the GIL the training threads need")
    assert during["post_script_gc"] is False, "the served config has runner.postScriptGC on"

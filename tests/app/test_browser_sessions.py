"""Many people at once, in real browsers (Playwright driving /usr/bin/chromium).

A load goes on when its user switches page at once; six sessions sharing two training slots
all train, see "Finished" with their Start button back, and evaluate (the scripted scenario of
``benchmarks/bench_sessions.py``: before the fixes a page whose run ended while it was drawn
kept Start disabled with nothing left to redraw it).
"""
from __future__ import annotations

import asyncio
import sys
import threading
from pathlib import Path

import pytest

from test_browser import browser, server  # noqa: F401 - this module's server and browser

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.browser


def test_a_load_goes_on_when_the_user_switches_page(server, browser):  # noqa: F811
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    main = page.locator('[data-testid="stMain"]')
    sidebar = page.locator('[data-testid="stSidebar"]')
    page.goto(f"{server}/data")
    expect(main.get_by_role("heading", name="Data", exact=True)).to_be_visible(timeout=60_000)
    dialog = page.get_by_role("dialog", name="Page not found")  # a fresh server's first visit
    page.wait_for_timeout(500)
    if dialog.count():
        dialog.get_by_role("button", name="Close").click()
    for name, value in (("Users", "20000"), ("Interactions", "1000000")):
        field = main.get_by_role("spinbutton", name=name, exact=True)
        field.fill(value)
        field.press("Enter")
        expect(field).to_have_value(value)
        page.wait_for_timeout(500)
    main.get_by_role("button", name="Generate and load").click()
    page.wait_for_timeout(300)  # the user clicked Train 0.3-1 s later
    sidebar.get_by_role("link", name="Train", exact=True).click()
    expect(main.get_by_role("heading", name="Train", exact=True)).to_be_visible()
    expect(sidebar.get_by_text("20,000 users")).to_be_visible(timeout=120_000)
    expect(main.get_by_text("Every page now uses it")).to_be_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


@pytest.mark.slow
def test_six_sessions_with_two_slots_all_train_and_evaluate(server):  # noqa: F811
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_sessions import scenario

    out: dict = {}

    def drive() -> None:  # its own thread: the module's sync Playwright owns this one's loop
        try:
            out.update(asyncio.run(scenario(server, sessions=6, rounds=1, epochs=2)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            out["error"] = exc

    thread = threading.Thread(target=drive)
    thread.start()
    thread.join(600)
    assert not thread.is_alive(), "the six sessions did not finish in 10 minutes"
    assert "error" not in out, repr(out.get("error"))
    assert len(out["finished"]) == 6 and len(out["evaluated"]) == 6
    assert out.get("stuck", []) == []  # every page got its Start button back by itself

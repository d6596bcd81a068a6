"""The Tune page in a real browser: a study runs live, and "Train with these settings" — a
button inside the live panel's fragment — opens the Train page on the first click."""
from __future__ import annotations

import re

import pytest

from test_browser import browser, server  # noqa: F401 - the server and browser fixtures

pytestmark = pytest.mark.browser

expect = pytest.importorskip("playwright.sync_api").expect


def test_study_then_train_with_these_settings_in_one_click(server, browser, tmp_path):  # noqa: F811
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(30_000)
    main = page.locator('[data-testid="stMain"]')
    page.goto(server)  # app.py runs once: Streamlit leaves its legacy pages/ mode for good
    expect(main.get_by_role("heading", name="MF Explorer")).to_be_visible(timeout=60_000)
    page.goto(f"{server}/tune")
    expect(main.get_by_role("heading", name="Tune", exact=True)).to_be_visible(timeout=60_000)
    for label, value in (("Latent factors k", "4:8"), ("Epochs", "2")):
        box = main.get_by_role("textbox", name=label, exact=True)
        box.fill(value)
        box.press("Enter")
        expect(box).to_have_value(value, timeout=30_000)
    trials = main.get_by_role("spinbutton", name="Trials", exact=True)
    trials.fill("3")
    trials.press("Enter")
    expect(main.get_by_text("3 trials over")).to_be_visible(timeout=30_000)
    main.get_by_role("button", name="Start study").click()
    expect(main.get_by_text("Best (by NDCG@10)")).to_be_visible(timeout=90_000)
    expect(main.locator('[data-testid="stPlotlyChart"]').first).to_be_visible(timeout=60_000)
    page.screenshot(path=str(tmp_path / "tune.png"), full_page=True)
    main.get_by_role("button", name="Train with these settings").click()
    expect(main.get_by_role("heading", name="Train", exact=True)).to_be_visible(timeout=30_000)
    # The form shows the best trial's settings (the searched k in 4..8, 2 iterations), not the
    # defaults (k 100, 15 iterations) it had before.
    k = main.get_by_role("spinbutton", name="Latent factors k", exact=True)
    expect(k).to_have_value(re.compile(r"^[4-8]$"), timeout=30_000)
    expect(main.get_by_role("spinbutton", name="Iterations", exact=True)).to_have_value("2")
    page.screenshot(path=str(tmp_path / "train-from-tune.png"), full_page=True)
    assert page.locator('[data-testid="stException"]').count() == 0

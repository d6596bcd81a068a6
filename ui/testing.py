"""Helpers for the AppTest suites (tests/app/): open the app, switch pages, train, poll.

AppTest does not fire ``run_every`` timers by itself, so polling is ``time.sleep`` + ``at.run()``.
"""
from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def open_app(page: str | None = None, *, timeout: float = 60, query: dict | None = None) -> AppTest:
    """A fresh session of the app (one browser tab), optionally switched to a page by its URL
    path (``"train"`` is ``pages/train_page.py``)."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert_clean(at)
    if page:
        at.switch_page(page_file(page))
        at.run()
        assert_clean(at)
    return at


def page_file(page: str) -> str:
    """The file of the page served at URL path ``page`` (e.g. ``"train"``)."""
    return f"pages/{page}_page.py"


def assert_clean(at: AppTest) -> None:
    """No uncaught exception reached the page."""
    assert not at.exception, [e.value for e in at.exception]


def set_number(at: AppTest, key: str, value) -> None:
    at.number_input(key=key).set_value(value)


def poll_until(at: AppTest, predicate, timeout: float = 30.0, interval: float = 0.25) -> bool:
    """Re-run the app every ``interval`` s until ``predicate(at)`` holds; False on timeout."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        at.run()
        assert_clean(at)
        if predicate(at):
            return True
        time.sleep(interval)
    return False


def wait_for_load(at: AppTest, timeout: float = 60.0) -> None:
    """Wait until the session's background load (Data page) has ended and been adopted (no
    rerun when none was started: the last run's messages stay readable)."""
    if "load_job" not in at.session_state:
        return
    assert poll_until(at, lambda a: "load_job" not in a.session_state, timeout), \
        "the load did not finish"


def job_status(at: AppTest) -> str | None:
    from ui.jobs import REGISTRY
    ss = at.session_state
    job_id = ss["job_id"] if "job_id" in ss else None
    job = REGISTRY.get(job_id, ss["sid"]) if job_id else None
    return job.status if job is not None else None


def train(at: AppTest, *, epochs: int = 5, factors: int = 8, timeout: float = 60) -> None:
    """Train a small model from the Train page and wait until it is the current model."""
    at.switch_page(page_file("train"))
    at.run()
    set_number(at, "w_hp_epochs", epochs)
    set_number(at, "w_hp_factors", factors)
    at.run()
    at.button(key="btn_start").click()
    at.run()
    assert_clean(at)
    assert poll_until(at, lambda a: "bundle" in a.session_state, timeout), \
        f"training did not finish; warnings: {[w.value for w in at.warning]}"


def load_builtin(at: AppTest, shape: str, *, n_users: int = 300, n_items: int = 200,
                 n_interactions: int = 5000) -> None:
    """Generate and load a small built-in dataset of ``shape`` from the Data page (and wait for
    the background load); the session stays on the Data page."""
    at.switch_page(page_file("data")).run()
    at.number_input(key="w_builtin_n_users").set_value(n_users)
    at.number_input(key="w_builtin_n_items").set_value(n_items)
    at.number_input(key="w_builtin_n_interactions").set_value(n_interactions)
    at.selectbox(key="w_builtin_shape").set_value(shape)
    at.button(key="btn_builtin").click().run()
    wait_for_load(at)


def trained_app(page: str, *, epochs: int = 5, factors: int = 8) -> AppTest:
    """A fresh session that trained a small model on the built-in data, then opened ``page``."""
    at = open_app()
    train(at, epochs=epochs, factors=factors)
    at.switch_page(page_file(page)).run()
    assert_clean(at)
    return at


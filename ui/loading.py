"""Loading a dataset in the background, so that switching pages never drops it.

A load used to run inside the Data page's script: a click on another page 0.3 s later stopped
that script, the load was lost and the session trained on its old dataset without a word. Now
the Data page's button starts a :class:`LoadJob` (a thread that reads and prepares the data and
reports its progress); the app's frame adopts the finished load on its next run, whatever page
is open (:func:`finished_load`, :func:`ui.session.adopt_load`), and says what was loaded or why
it failed; while it runs, every page says so (:func:`load_banner`) and reruns once it ends.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

import streamlit as st

from mfcore.interactions import Interactions
from mfcore.prepare import PrepOptions, Prepared, prepare

from .text import error_text

__all__ = ["LoadJob", "start_load", "finished_load", "load_banner"]

log = logging.getLogger("mfx.ui.loading")
#: Seconds between two looks at a running load.
POLL_S = 0.5


@dataclass
class LoadJob:
    """One background load: what, how far, and its result or error (thread-safe enough: each
    field is written by the load's thread and read whole by the pages)."""

    name: str
    label: Callable[[Interactions], str]
    started: float = field(default_factory=time.time)
    progress: float = 0.0
    message: str = "Starting…"
    result: tuple[Interactions, Prepared] | None = None
    adopt: Callable[[], None] | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)

    def report(self, fraction: float, message: str = "") -> None:
        self.progress = min(max(float(fraction), 0.0), 1.0)
        self.message = message or self.message


def start_load(name: str, read: Callable[[Callable[[float, str], None]], Interactions],
               prepare_for: Callable[[Interactions], tuple[PrepOptions, Callable[[], None]]],
               *, label: Callable[[Interactions], str]) -> str | None:
    """Read (``read(progress)``) and prepare a dataset in a thread; None, or why it was not
    started (this session already has a load running).

    ``read`` and ``prepare_for`` run in the thread, so they must not touch
    ``st.session_state``: take everything they need before calling. ``prepare_for(raw) ->
    (options, adopt)`` gives the preparation, and ``adopt()`` runs in the session when it takes
    the data (the form's settings fitted to it). ``label(raw)`` names the loaded data.
    """
    ss = st.session_state
    running: LoadJob | None = ss.get("load_job")
    if running is not None and not running.done.is_set():
        return f"{running.name} is still loading: wait for it before loading something else."
    job = LoadJob(name=name, label=label)

    def work() -> None:
        try:
            raw = read(job.report)
            job.report(0.95, "Preparing and splitting…")
            options, job.adopt = prepare_for(raw)
            job.result = raw, prepare(raw, options)
        except Exception as exc:  # noqa: BLE001 - every failure is reported; the old data stays
            log.info("load failed (%s): %s", name, exc, exc_info=not isinstance(exc, ValueError))
            job.error = error_text(exc)
        finally:
            job.done.set()

    ss.load_job = job
    threading.Thread(target=work, name="mfx-load", daemon=True).start()
    return None


def finished_load() -> LoadJob | None:
    """The session's load once it has ended (taken off the session), else None; app.py's frame
    adopts it (:func:`ui.session.setup_session`) on every run, before the page."""
    ss = st.session_state
    job: LoadJob | None = ss.get("load_job")
    if job is None or not job.done.is_set():
        return None
    del ss.load_job
    return job


def load_banner() -> None:
    """While a load runs: what is loading and how far, on every page, live; the app reruns
    once it ends (so the frame adopts it)."""
    if st.session_state.get("load_job") is None:
        return

    @st.fragment(run_every=POLL_S)
    def banner() -> None:
        job: LoadJob | None = st.session_state.get("load_job")
        if job is None or job.done.is_set():
            st.rerun()
        st.progress(job.progress, text=f"Loading {job.name} in the background: {job.message} "
                    "You may switch pages; until it is ready every page uses the dataset you "
                    "had.")

    banner()

"""Widgets more than one page uses: settings that survive page switches, the live-job panel,
the sidebar's status of the session."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st

from mfcore.values import fmt

from .jobs import Job, JobSnapshot
from .session import Bundle, current_job
from .text import epoch_progress

#: Seconds between two polls of a running job (the Train and Tune panels and the sidebar share
#: it, so the sidebar never lags behind a page's live panel).
POLL_S = 0.5


def persisted(store: str, name: str, default: Any = None, options: list | None = None) -> dict:
    """``key``/``value``/``on_change`` for a widget whose value lives in ``session_state[store]``.

    Streamlit drops a widget's own state when a page without it runs; the value is copied into a
    plain dict on every change, and the widget is re-created from it. Pass ``options`` for a
    selectbox or radio (they take an ``index``, not a ``value``).
    """
    ss = st.session_state
    bag = ss.setdefault(store, {})
    key = f"w_{store}_{name}"

    def copy() -> None:
        bag[name] = ss[key]

    kwargs: dict[str, Any] = {"key": key, "on_change": copy}
    if key not in ss:
        value = bag.get(name)
        value = default if value is None else value
        if options is None:
            kwargs["value"] = value
        else:
            kwargs["index"] = options.index(value) if value in options else 0
    return kwargs


def live_job_panel(job: Callable[[], Job | None], render: Callable[[JobSnapshot | None], None],
                   *, cancel_slot, cancel_key: str, cancel_help: str | None = None,
                   on_final: Callable[[JobSnapshot], None] | None = None,
                   drawn_running: bool | None = None) -> None:
    """A background job's view, polled every :data:`POLL_S` s while it runs (Train and Tune).

    Parameters
    ----------
    job : callable
        Returns the page's job (or None); called on every poll.
    render : callable
        Draws the view from the job's snapshot (None when there is no job).
    cancel_slot : container
        Where the Cancel button goes while the job runs.
    cancel_key, cancel_help
        The Cancel button's key and tooltip.
    on_final : callable, optional
        Called with the snapshot of a job that has ended, on every run that shows it.
    drawn_running : bool, optional
        Whether the page above was drawn for a running job (its disabled buttons). A job that
        ended between that moment and this call would otherwise leave the page disabled with
        no timer to rerun it: the panel reruns the app at once instead.

    When the job ends (or vanishes) the whole app reruns once, so the page's buttons, the
    sidebar and the app's session setup see the new state, and the timer stops.
    """
    first = job()
    first_running = first is not None and first.status == "running"
    if first_running:
        cancel_slot.button("Cancel", on_click=first.cancel, icon=":material/stop:",
                           key=cancel_key, width="stretch", help=cancel_help)
    # The page above shows a running job that has ended since: the panel's first call sees
    # it ended and reruns the app.
    running = bool(drawn_running) or first_running

    @st.fragment(run_every=POLL_S if running else None)
    def panel() -> None:
        current = job()
        snap = current.snapshot() if current is not None else None
        if snap is not None and not snap.running and on_final is not None:
            on_final(snap)
        if running != (snap is not None and snap.running):
            st.rerun()
        render(snap)

    panel()


def sidebar_status() -> None:
    """A compact status of the session in the sidebar, live while a job runs.

    A fragment polling at :data:`POLL_S`, the Train page's rate, so it keeps pace with the page's
    live panel; it reruns the whole app once the job has ended.
    """
    job = current_job()
    running = job is not None and job.status == "running"

    @st.fragment(run_every=POLL_S if running else None)
    def status() -> None:
        ss = st.session_state
        lines = []
        prepared = ss.get("prepared")
        if prepared is not None:
            d = prepared.display
            lines.append(f":material/database: **Data** · {d.n_users:,} users · "
                         f"{d.n_items:,} songs · {len(d):,} plays")
        job = current_job()
        snap = job.snapshot() if job is not None else None
        if snap is not None and snap.running:
            lines.append(f":material/progress_activity: **Training** · {epoch_progress(snap)}")
        bundle: Bundle | None = ss.get("bundle")
        if bundle is not None and bundle.history:
            last = bundle.history[-1]
            lines.append(f":material/model_training: **Model** · k = "
                         f"{bundle.model.params['factors']} · validation RMSE "
                         f"{fmt(last.val_rmse)}")
        else:
            lines.append(":material/model_training: **Model** · none yet")
        st.markdown("  \n".join(lines))  # one element: nothing stale can linger beside it
        if running and (snap is None or not snap.running):
            st.rerun()

    with st.sidebar:
        st.caption("This session")
        status()

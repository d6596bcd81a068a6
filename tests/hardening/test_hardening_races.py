"""Races between a page's run and the work it shows: a job that ends while the page is drawn,
an evaluation cut short by a rerun."""
from __future__ import annotations

from streamlit.testing.v1 import AppTest

from ui.testing import assert_clean, open_app, train


def _panel_script() -> None:
    import time

    import streamlit as st

    from ui.jobs import JobSnapshot
    from ui.widgets import live_job_panel

    ss = st.session_state
    ss.runs = ss.get("runs", 0) + 1
    now = time.time()
    snap = JobSnapshot(id="j" * 16, owner="o", label="run", status="done", history=[],
                       error=None, progress=1.0, message="", started=now - 0.2, finished=now)

    class Ended:  # a job that finished after the page above drew it running
        status = "done"

        def snapshot(self) -> JobSnapshot:
            return snap

    live_job_panel(Ended, lambda s: st.write(f"panel: {s.status}"), cancel_slot=st.empty(),
                   cancel_key="btn_cancel", drawn_running=ss.runs == 1)


def test_a_job_that_ends_while_the_page_is_drawn_reruns_the_page():
    # Seen with six sessions: a 3-epoch run ended between the Train page's "running?" and the
    # live panel's; the page kept "Start training" disabled with no timer left to redraw it.
    at = AppTest.from_function(_panel_script)
    at.run()
    assert_clean(at)
    assert at.session_state["runs"] == 2  # redrawn at once, with the job's real state
    assert not at.button  # and no Cancel button for a job that has ended


def test_an_evaluation_cut_short_by_a_rerun_is_run_again(monkeypatch):
    import streamlit as st

    import mfcore.evaluate.ranking as ranking

    at = open_app()
    train(at, epochs=2, factors=4)
    at.switch_page("pages/evaluate_page.py")
    at.run()
    real, calls = ranking.evaluate_ranking, []

    def interrupted_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            st.rerun()  # what a click elsewhere does to the script while it evaluates
        return real(*args, **kwargs)

    monkeypatch.setattr(ranking, "evaluate_ranking", interrupted_once)
    at.button(key="btn_eval").click().run()
    assert_clean(at)
    assert len(calls) >= 2
    assert any(m.label == "precision@10" for m in at.metric), [c.value for c in at.caption]

"""Home page (app.py's default page): what the tool does, the flow, the session's status."""
from __future__ import annotations

from ui.testing import assert_clean, open_app, page_file, train


def test_home_explains_flow_and_shows_dataset():
    at = open_app()
    assert at.title[0].value == "MF Explorer"
    text = " ".join(m.value for m in at.markdown)
    assert "3,000 users" in text and "1,500 songs" in text  # built-in data loaded at once
    # The product trains play counts by implicit ALS, ranked: the front page says so.
    assert "implicit ALS for play counts" in text and "stochastic gradient" not in text
    links = [p.proto.page for p in at.get("page_link")]
    assert {"data", "train", "recommend", "evaluate"} <= set(links), links
    assert any("No model yet" in c.value for c in at.caption)
    # the session token is mirrored in the URL so a reload can reattach to a running job
    assert len(at.query_params["sid"]) == 32


def test_home_shows_trained_model():
    at = open_app()
    train(at, epochs=3)
    at.switch_page("pages/home_page.py")
    at.run()
    text = " ".join(m.value for m in at.markdown)
    # An ALS model (play counts) is summed up by its ranking, not by a meaningless RMSE.
    assert "validation NDCG@10" in text and "RMSE" not in text and "3 epochs" in text
    assert "Last run: **done**" in text


def test_every_page_runs_inside_the_frame():
    """app.py runs on every run (session set-up, notices, sidebar), whichever page is shown."""
    at = open_app()
    for page in ("data", "train", "recommend", "evaluate", "tune", "runs"):
        at.session_state["notices"] = [f"hello from {page}"]
        at.switch_page(page_file(page)).run()
        assert_clean(at)
        assert [c.value for c in at.sidebar.caption] == ["This session"], page
        assert [i.value for i in at.info][:1] == [f"hello from {page}"], page
        assert at.session_state["notices"] == []

"""Home page (app.py's default page): what the tool does, the flow, the session's status."""
from __future__ import annotations

from ui.testing import open_app, train


def test_home_explains_flow_and_shows_dataset():
    at = open_app()
    assert at.title[0].value == "MF Explorer"
    text = " ".join(m.value for m in at.markdown)
    assert "3,000 users" in text and "1,500 songs" in text  # built-in data loaded at once
    links = [p.proto.page for p in at.get("page_link")]
    assert {"data", "train", "recommend", "evaluate"} <= set(links), links
    assert any("No model yet" in c.value for c in at.caption)
    # the session token is mirrored in the URL so a reload can reattach to a running job
    assert len(at.query_params["sid"]) == 32


def test_home_shows_trained_model():
    at = open_app()
    train(at, epochs=3)
    at.switch_page("app.py")
    at.run()
    text = " ".join(m.value for m in at.markdown)
    assert "validation RMSE" in text and "3 epochs" in text
    assert "Last run: **done**" in text

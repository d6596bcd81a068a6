"""Evaluate page: precision/recall@k (definitions, directions), per-subject histogram, baselines."""
from __future__ import annotations

import json

import pytest

from ui.testing import assert_clean, open_app, train, trained_app


@pytest.fixture(scope="module")
def at():
    return trained_app("evaluate", epochs=5)


def metrics(at) -> dict:
    return {m.label: m.value for m in at.metric}


def run_eval(at) -> None:
    at.button(key="btn_eval").click().run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]


def test_without_model_points_to_train():
    fresh = open_app("evaluate")
    assert any("No model yet" in i.value for i in fresh.info)


def test_definition_shown_and_no_rmse_panel_for_an_als_model(at):
    assert at.session_state["bundle"].model.params["solver"] == "als"
    assert not any(h.value == "RMSE against baselines" for h in at.subheader)
    text = " ".join(m.value for m in at.markdown)
    assert "Held-out." in text and "precision@k = |R ∩ T| / k" in text


def test_baselines_table_for_an_sgd_model():
    app = open_app("train")
    app.selectbox(key="w_hp_solver").set_value("sgd").run()
    train(app, epochs=3, factors=8)
    app.switch_page("pages/evaluate_page.py")
    app.run()
    assert_clean(app)
    app.button(key="btn_baselines").click().run()
    assert_clean(app)
    table = app.dataframe[0].value
    assert list(table["predictor"]) == ["model (MF)", "global mean", "biases", "popularity"]
    assert (table["RMSE"] > 0).all()


def test_heldout_users_sample(at):
    run_eval(at)
    m = metrics(at)
    assert 0 <= float(m["precision@10"]) <= 1 and 0 <= float(m["recall@10"]) <= 1
    assert int(m["Users evaluated"].replace(",", "")) > 0
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    curve = charts[0]["data"][0]
    assert curve["name"] == "precision@k" and curve["x"][0] == 1 and 10 in curve["x"]
    assert charts[1]["data"][0]["type"] == "histogram"
    assert "vs popularity" in str(at.metric[0].proto.delta)
    assert any("Popularity reference" in c.value for c in at.caption)


def test_k_slider_favourites_and_songs_direction(at):
    at.slider(key="w_ev_k").set_value(5).run()
    at.radio(key="w_ev_definition").set_value("favourites").run()
    at.radio(key="w_ev_direction").set_value("items").run()
    text = " ".join(m.value for m in at.markdown)
    assert "Favourites" in text and "reproduces what it was fitted on" in text
    run_eval(at)
    m = metrics(at)
    assert "precision@5" in m and "Songs evaluated" in m


def test_chosen_subjects(at):
    at.radio(key="w_ev_definition").set_value("heldout").run()
    at.radio(key="w_ev_direction").set_value("users").run()
    at.radio(key="w_ev_scope").set_value("chosen").run()
    users = at.multiselect(key="ev_chosen").options
    assert users
    bundle = at.session_state["bundle"]
    top = bundle.prepared.display.user_counts().argsort()[::-1][:3]
    at.multiselect(key="ev_chosen").set_value([int(u) for u in top]).run()
    run_eval(at)
    assert int(metrics(at)["Users evaluated"]) <= 3

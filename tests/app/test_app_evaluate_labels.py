"""Evaluate page: labels that say what they show (the time of every pass, the direction's
subjects, advice the model has not already followed, no RMSE where it means nothing, readable
column names)."""
from __future__ import annotations

import re

import pytest

from ui.testing import assert_clean, open_app, page_file, train, trained_app
from ui.text import ranking_advice


@pytest.fixture(scope="module")
def at():
    return trained_app("evaluate", epochs=3)


def captions(at) -> str:
    return " ".join(c.value for c in at.caption)


def test_before_and_after_say_what_is_ranked_and_how_long_everything_took(at):
    assert "it ranks 1,000 users" in captions(at)
    at.radio(key="w_ev_direction").set_value("items").run()
    assert "it ranks 1,000 songs" in captions(at) and "1,000 users" not in captions(at)
    at.radio(key="w_ev_direction").set_value("users").run()
    at.button(key="btn_eval").click().run()
    assert_clean(at)
    (results,) = at.session_state["eval_results"].values()
    took = results["seconds"]
    assert set(took) == {"model", "popularity"} and all(t > 0 for t in took.values())
    line = next(c.value for c in at.caption if "in all" in c.value)
    assert "the model at k = 1, 2, 3, 5, 10, 15, 20 in one pass" in line
    assert "the popularity reference" in line and "users evaluated" in line


def test_chosen_subjects_table_has_readable_columns(at):
    at.radio(key="w_ev_scope").set_value("chosen").run()
    top = at.session_state["bundle"].prepared.users_by_activity[:2]
    at.multiselect(key="ev_chosen").set_value([int(u) for u in top]).run()
    at.button(key="btn_eval").click().run()
    table = at.dataframe[0].value
    assert list(table.columns) == ["user", "precision@10", "recall@10", "NDCG@10",
                                   "R-precision", "relevant", "hits in the top 10"]
    assert not [c for c in table.columns if re.search(r"_", c)]


def test_advice_never_asks_for_what_the_model_did():
    assert "ρ > 0" in ranking_advice({"solver": "sgd", "neg_ratio": 0.0})
    assert "ρ > 0" not in ranking_advice({"solver": "sgd", "neg_ratio": 3.0})
    assert "already sampled ρ = 3" in ranking_advice({"solver": "sgd", "neg_ratio": 3.0})
    assert "ρ" not in ranking_advice({"solver": "als", "neg_ratio": None})


def test_no_rmse_panel_for_presence_only_targets():
    app = open_app("train")
    app.button(key="btn_recipe_playlist-notebook").click().run()  # all-ones targets, SGD
    train(app, epochs=2, factors=4)
    app.switch_page(page_file("evaluate")).run()
    assert_clean(app)
    assert app.session_state["bundle"].model.params["solver"] == "sgd"
    assert not any(h.value == "RMSE against baselines" for h in app.subheader)

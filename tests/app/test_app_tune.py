"""Tune page: a background Optuna study with live trials, cancel, best → Train at once, past
studies reopened and extended, bad entries and a damaged history explained."""
from __future__ import annotations

import json

import pytest

from mfcore.runstore import RunHistory
from ui.testing import assert_clean, load_builtin, open_app, poll_until


@pytest.fixture(autouse=True)
def history_db(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    monkeypatch.setenv("MFX_HISTORY_DB", str(path))
    monkeypatch.delenv("MFX_DASK_SCHEDULER", raising=False)
    return path


def _space(at, sampler="search", **entries) -> None:
    for name, value in entries.items():
        at.text_input(key=f"w_tune_space_als_{sampler}_{name}").set_value(value)
    at.run()


def _done(at) -> bool:
    return "sweep_result" in at.session_state and not any(p for p in at.get("progress"))


def _charts(at) -> dict:
    return {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}


def test_study_on_play_counts_best_popularity_and_train_with_best(history_db):
    at = open_app("tune")  # the built-in data: play counts, so ALS and NDCG@10
    assert any("No study yet" in i.value for i in at.info)
    at.number_input(key="w_tune_n").set_value(4)
    _space(at, factors="4:8", epochs="2", cg_steps="1:3")
    assert any(c.value.startswith("4 trials over factors, reg, alpha, confidence, cg_steps")
               for c in at.caption)
    at.button(key="btn_tune_start").click().run()
    assert_clean(at)
    assert poll_until(at, _done, 90)
    at.run()
    res = at.session_state["sweep_result"]
    assert res.status == "done" and len(res.trials) == 4 and res.objective == "ndcg@10"
    assert any(s.value.startswith("Best (by NDCG@10)") and "popularity" in s.value
               for s in at.success)
    figs = list(_charts(at).values())
    assert len(figs) == 4  # history, importance, parallel coordinates, slice
    history = figs[0]
    ref = res.meta["reference"]["popularity"]
    assert any(s.get("y0") == pytest.approx(ref) for s in history["layout"]["shapes"])
    assert "NDCG@10" in figs[1]["layout"]["title"]["text"]  # importance on the objective
    trials, fixed = at.dataframe[0].value, at.dataframe[1].value
    assert len(trials) == 4 and "fixed setting" in fixed and "eval_k" in set(fixed["fixed setting"])
    runs = RunHistory(history_db).list_runs(sweep_id=res.sweep_id)
    assert len(runs) == 4 and set(runs["source"]) == {"sweep"}

    best = res.best["params"]
    at.button(key="btn_tune_train").click().run()
    assert_clean(at)
    assert [t.value for t in at.title] == ["Train"]  # at once, not on the next click
    assert at.number_input(key="w_hp_factors").value == best["factors"]
    assert at.session_state["hp"]["alpha"] == best["alpha"]
    assert at.session_state["hp"]["solver"] == "als"


def test_cancel_stops_the_study(history_db):
    at = open_app("tune")
    at.segmented_control(key="w_tune_sampler").set_value("grid").run()
    _space(at, "grid", factors="2,4", epochs="100000", reg="0.1", alpha="10")
    assert any(c.value.startswith("2 grid points") for c in at.caption)
    at.button(key="btn_tune_start").click().run()
    assert poll_until(at, lambda a: any("epoch" in (p.proto.text or "")
                                        for p in a.get("progress")), 60)
    assert at.button(key="btn_tune_start").disabled
    at.button(key="btn_tune_cancel").click().run()
    assert poll_until(at, _done, 30)
    at.run()
    res = at.session_state["sweep_result"]
    assert res.status == "cancelled" and res.trials == []
    assert any("Cancelled after 0 of 2 trials" in w.value for w in at.warning)


def test_ratings_default_to_sgd_on_validation_rmse(history_db):
    at = open_app("data")
    load_builtin(at, "ratings")
    assert at.session_state["prepared"].train.kind == "ratings"
    at.switch_page("pages/tune_page.py").run()
    assert_clean(at)
    assert at.selectbox(key="w_tune_solver").value == "sgd"
    assert at.selectbox(key="w_tune_objective").value == "val_rmse"
    assert any(c.value.startswith("20 trials over factors, epochs, lr, reg, init_std")
               for c in at.caption)


def test_bad_entry_is_a_warning_not_a_crash():
    at = open_app("tune")
    _space(at, factors="2, x")
    assert any("--factors: expected an integer" in w.value for w in at.warning)
    at.button(key="btn_tune_start").click().run()
    assert_clean(at)
    assert "sweep_result" not in at.session_state and at.session_state["tune_error"]


def test_past_study_reopens_in_a_new_session_and_extends(history_db):
    at = open_app("tune")
    at.number_input(key="w_tune_n").set_value(3)
    _space(at, factors="4:8", epochs="2")
    at.button(key="btn_tune_start").click().run()
    assert poll_until(at, _done, 90)
    first = at.session_state["sweep_result"]

    at = open_app("tune")  # a new session: nothing about this study in its state
    assert "sweep_result" not in at.session_state
    box = at.selectbox(key="w_tune_past")
    assert box.value is None and len(box.options) == 1
    assert "tpe · 3 trials · best NDCG@10" in box.options[0]
    box.set_value(first.sweep_id).run()
    assert_clean(at)
    assert any(s.value.startswith("Best (by NDCG@10)") for s in at.success)
    assert at.dataframe[0].value["run_id"].tolist() == [t.run_id for t in first.trials]
    at.number_input(key="w_tune_n").set_value(2).run()
    at.button(key="btn_tune_extend").click().run()
    assert poll_until(at, _done, 90)
    at.run()
    more = at.session_state["sweep_result"]
    assert more.sweep_id == first.sweep_id and len(more.trials) == 5
    assert len(RunHistory(history_db).list_runs(sweep_id=first.sweep_id)) == 5
    at.button(key="btn_tune_past_train").click().run()
    assert [t.value for t in at.title] == ["Train"]


def test_damaged_history_is_a_message_not_a_traceback(history_db):
    history_db.write_bytes(b"this is not a database " * 400)
    at = open_app("tune")
    assert_clean(at)
    assert any("run history cannot be read" in e.value and "not a usable SQLite" in e.value
               for e in at.error)
    assert [t.value for t in at.title] == ["Tune"]

"""Tune page: a background grid sweep with live trials, cancel, best → Train, random search."""
from __future__ import annotations

import json

import pytest

from mfcore.runstore import RunHistory
from ui.testing import assert_clean, open_app, poll_until


@pytest.fixture(autouse=True)
def history_db(tmp_path, monkeypatch):
    path = tmp_path / "runs.sqlite"
    monkeypatch.setenv("MFX_HISTORY_DB", str(path))
    return path


def _grid(at, factors="2, 4, 8", lr="0.01", reg="0.05", epochs="2") -> None:
    for name, value in (("factors", factors), ("lr", lr), ("reg", reg), ("epochs", epochs)):
        at.text_input(key=f"w_tune_{name}").set_value(value)
    at.run()


def _done(at) -> bool:
    return "sweep_result" in at.session_state and not any(
        p for p in at.get("progress"))


def test_grid_sweep_best_importance_and_train_with_best(history_db):
    at = open_app("tune")
    assert any("No sweep yet" in i.value for i in at.info)
    _grid(at)
    assert any(c.value.startswith("3 trials") for c in at.caption)
    at.button(key="btn_tune_start").click().run()
    assert_clean(at)
    assert poll_until(at, _done, 60)
    at.run()
    res = at.session_state["sweep_result"]
    assert res.status == "done" and len(res.trials) == 3
    assert any(s.value.startswith("Best (by validation RMSE)") for s in at.success)
    keys = {c.proto.id for c in at.get("plotly_chart")}
    figs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(figs) == 3  # RMSE vs hyperparameters, parallel coordinates, importance
    assert any(t.get("type") == "parcoords" for f in figs for t in f["data"])
    assert len(keys) == 3
    assert at.download_button(key="dl_tune_report") is not None
    runs = RunHistory(history_db).list_runs(sweep_id=res.sweep_id)
    assert len(runs) == 3 and set(runs["source"]) == {"sweep"}

    best = res.best["params"]
    at.button(key="btn_tune_train").click().run()
    assert_clean(at)
    assert [t.value for t in at.title] == ["Train"]
    assert at.number_input(key="w_hp_factors").value == best["factors"]
    assert at.session_state["hp"]["reg"] == best["reg"]


def test_cancel_keeps_finished_trials(history_db):
    at = open_app("tune")
    _grid(at, factors="2", epochs="1, 100000")
    at.button(key="btn_tune_start").click().run()
    assert poll_until(at, lambda a: any("1 of 2 trials done" in (p.proto.text or "")
                                        for p in a.get("progress")), 60)
    assert len(at.dataframe) == 1  # the live table of finished trials
    assert at.button(key="btn_tune_start").disabled
    at.button(key="btn_tune_cancel").click().run()
    assert poll_until(at, _done, 30)
    at.run()
    res = at.session_state["sweep_result"]
    assert res.status == "cancelled" and len(res.trials) == 1
    assert any("Cancelled after 1 of 2 trials" in w.value for w in at.warning)
    assert len(RunHistory(history_db).list_runs()) == 1


def test_random_search_with_precision(history_db):
    at = open_app("tune")
    at.segmented_control(key="w_tune_mode").set_value("random").run()
    at.number_input(key="w_tune_n").set_value(3)
    at.number_input(key="w_tune_epochs_lo").set_value(2)
    at.number_input(key="w_tune_epochs_hi").set_value(2)
    at.toggle(key="w_tune_ranking").set_value(True)
    at.run()
    at.toggle(key="w_tune_by_precision").set_value(True).run()
    assert any(c.value.startswith("3 trials") for c in at.caption)
    at.button(key="btn_tune_start").click().run()
    assert poll_until(at, _done, 60)
    at.run()
    assert_clean(at)
    res = at.session_state["sweep_result"]
    assert res.kind == "random" and res.metric == "precision_at_k" and len(res.trials) == 3
    assert all(t.precision_at_k is not None for t in res.trials)
    assert all(4 <= t.params["factors"] <= 64 and t.params["epochs"] == 2 for t in res.trials)
    assert any("precision@10" in s.value for s in at.success)


def test_bad_entry_is_a_warning_not_a_crash():
    at = open_app("tune")
    _grid(at, factors="2, x")
    assert any("expected an integer" in w.value for w in at.warning)
    at.button(key="btn_tune_start").click().run()
    assert_clean(at)
    assert "sweep_result" not in at.session_state


def _record_sweep(history_db, planted):
    """A small sweep (one trial diverges) recorded straight into the test's run history."""
    from mfcore.prepare import prepare
    from mfcore.tune import grid_trials, run_sweep

    return run_sweep(prepare(planted[0]),
                     grid_trials(factors=[2, 4, 8], lr=[0.02, 50.0], reg=0.05, epochs=2),
                     k=5, history=RunHistory(history_db), kind="grid",
                     data_info={"label": "planted ratings"})


def test_past_sweep_reopens_in_a_new_session(history_db, planted):
    res = _record_sweep(history_db, planted)
    at = open_app("tune")  # a new session: nothing about this sweep in its state
    assert "sweep_result" not in at.session_state
    assert any(s.value == "Past sweeps" for s in at.subheader)
    box = at.selectbox(key="w_tune_past")
    assert box.value is None and box.options and len(box.options) == 1
    label = box.options[0]
    assert "grid · 6 trials · best val RMSE" in label and "planted ratings" in label
    box.set_value(res.sweep_id).run()
    assert_clean(at)
    assert any(s.value.startswith("Best (by validation RMSE)") and "precision@5" in s.value
               and "3 diverged" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert len(table) == 6 and table["status"].str.contains("diverged").sum() == 3
    assert table["run_id"].tolist() == [t.run_id for t in res.trials]
    figs = {c.proto.id: json.loads(c.proto.spec) for c in at.get("plotly_chart")}
    assert len(figs) == 4  # RMSE and precision@k per hyperparameter, parallel, importance
    assert any(t.get("type") == "parcoords" for f in figs.values() for t in f["data"])
    assert at.download_button(key="dl_tune_past_report") is not None
    best = res.best["params"]
    at.button(key="btn_tune_past_train").click().run()
    assert_clean(at)
    assert [t.value for t in at.title] == ["Train"]
    assert at.session_state["hp"]["factors"] == best["factors"]
    assert at.session_state["hp"]["reg"] == best["reg"]


def test_damaged_history_is_a_message_not_a_traceback(history_db):
    history_db.write_bytes(b"this is not a database " * 400)
    at = open_app("tune")
    assert_clean(at)
    assert any("run history cannot be read" in e.value and "not a usable SQLite" in e.value
               for e in at.error)
    assert [t.value for t in at.title] == ["Tune"]

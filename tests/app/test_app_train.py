"""Train page: background training, live history, cancel, divergence, limits, reattach."""
from __future__ import annotations

import json
import threading
import time

import pandas as pd


from ui.jobs import REGISTRY
from mfcore.train.presets import ALS_BINARY, SGD_EXPLICIT
from ui.testing import (assert_clean, job_status, load_builtin, open_app, poll_until, set_number,
                        train)


def test_short_training_run_finishes_with_history():
    at = open_app("train")
    assert any("No training run yet" in i.value for i in at.info)
    train(at, epochs=4, factors=8)
    bundle = at.session_state["bundle"]
    assert len(bundle.history) == 4 and bundle.status == "fitted"
    assert [m.value for m in at.metric if m.label == "Epoch"] == ["4 / 4"]
    assert any("Finished 4 epochs" in s.value for s in at.success)
    figs = at.get("plotly_chart")
    # Play counts train by ALS: the loss and the live ranking curve (no RMSE, which means
    # nothing for ALS's preferences).
    assert len(figs) == 2
    ranking = json.loads(figs[1].proto.spec)
    assert ranking["layout"]["title"]["text"].startswith("Validation ranking @10")
    assert all(v is not None and v > 0 for v in ranking["data"][0]["y"])  # NDCG@10 per epoch
    assert bundle.model.params["solver"] == "als"
    assert at.query_params["job"] == at.session_state["job_id"]
    # the run is in the run history (a temporary database, see conftest.py)
    assert any("Recorded as run #" in c.value for c in at.caption)
    from mfcore.runstore import RunHistory
    runs = RunHistory().list_runs(source="app")
    assert len(runs) >= 1


def test_cancel_stops_quickly_and_keeps_last_epoch():
    at = open_app("train")
    set_number(at, "w_hp_epochs", 5000)
    set_number(at, "w_hp_factors", 8)
    at.run()
    at.button(key="btn_start").click().run()
    assert job_status(at) == "running"
    assert poll_until(at, lambda a: any(m.label == "Epoch" and not m.value.startswith("0 ")
                                        for m in a.metric), 30)
    assert at.button(key="btn_start").disabled
    t0 = time.monotonic()
    at.button(key="btn_cancel").click().run()
    assert poll_until(at, lambda a: job_status(a) == "cancelled", 5, 0.05)
    assert time.monotonic() - t0 < 2.0
    at.run()
    assert_clean(at)
    bundle = at.session_state["bundle"]
    assert bundle.status == "cancelled" and 0 < len(bundle.history) < 5000
    assert any("Cancelled after" in w.value for w in at.warning)
    assert not at.button(key="btn_start").disabled


def test_diverged_run_says_so_and_suggests_smaller_lr():
    at = open_app("data")
    at.selectbox(key="f_transform").set_value("none")
    next(b for b in at.button if b.label == "Apply").click().run()
    assert_clean(at)
    at.switch_page("pages/train_page.py")
    at.run()
    at.selectbox(key="w_hp_solver").set_value("sgd").run()
    set_number(at, "w_hp_lr", 0.5)
    set_number(at, "w_hp_epochs", 20)
    at.run()
    at.button(key="btn_start").click().run()
    assert poll_until(at, lambda a: job_status(a) == "diverged", 30)
    at.run()
    errors = " ".join(e.value for e in at.error)
    assert "diverged" in errors and "smaller" in errors
    assert "bundle" not in at.session_state  # a diverged run never replaces the model
    assert at.button(key="btn_retry").label.startswith("Retry with γ = 0.125")


def test_job_limit_is_explained():
    release = threading.Event()

    def block(job):
        while not release.is_set() and not job.cancel_event.is_set():
            time.sleep(0.01)

    others = [REGISTRY.start(f"other-{n}", block, label="busy")
              for n in range(REGISTRY.max_jobs - REGISTRY.running_count())]
    try:
        at = open_app("train")
        at.button(key="btn_start").click().run()
        assert_clean(at)
        warning = " ".join(w.value for w in at.warning)
        assert "already running on this server" in warning and "MFX_MAX_JOBS" in warning
        assert at.session_state["job_id"] is None
    finally:
        release.set()
        for job in others:
            job.wait(5)


def test_reload_reattaches_to_running_job_and_sessions_are_isolated():
    at = open_app("data")
    at.number_input(key="f_min_user").set_value(10)
    next(b for b in at.button if b.label == "Apply").click().run()
    trained_on = at.session_state["prepared"]
    at.switch_page("pages/train_page.py")
    at.run()
    set_number(at, "w_hp_epochs", 5000)
    set_number(at, "w_hp_factors", 8)
    at.run()
    at.button(key="btn_start").click().run()
    sid, job_id = at.session_state["sid"], at.session_state["job_id"]
    try:
        # A browser reload is a new session with the same URL (?sid=…&job=…).
        again = open_app("train", query={"sid": sid, "job": job_id})
        assert again.session_state["job_id"] == job_id
        assert job_status(again) == "running"
        assert again.button(key="btn_cancel")  # the live panel is attached
        assert again.session_state["prepared"] is trained_on  # and its data is back
        # Another visitor sees nothing of it, even knowing the job id.
        stranger = open_app("train", query={"job": job_id})
        assert stranger.session_state["sid"] != sid
        assert stranger.session_state["job_id"] is None or job_status(stranger) is None
        assert not any(m.label == "Epoch" for m in stranger.metric)
        assert REGISTRY.get(job_id, stranger.session_state["sid"]) is None
    finally:
        REGISTRY.get(job_id, sid).cancel()
        REGISTRY.get(job_id, sid).wait(5)


def test_two_sessions_train_at_once_without_mixing():
    a, b = open_app("train"), open_app("train")
    for at, epochs in ((a, 30), (b, 7)):
        set_number(at, "w_hp_epochs", epochs)
        set_number(at, "w_hp_factors", 4)
        at.run()
    a.button(key="btn_start").click().run()
    b.button(key="btn_start").click().run()
    assert poll_until(a, lambda x: "bundle" in x.session_state, 60)
    assert poll_until(b, lambda x: "bundle" in x.session_state, 60)
    assert len(a.session_state["bundle"].history) == 30
    assert len(b.session_state["bundle"].history) == 7
    assert a.session_state["bundle"].model is not b.session_state["bundle"].model


def test_worker_failure_is_shown(monkeypatch):
    import ui.training

    def broken(model, prepared, history=None):
        def fn(job):
            raise RuntimeError("kernel exploded")
        return fn

    monkeypatch.setattr(ui.training, "training_job", broken)
    at = open_app("train")
    at.button(key="btn_start").click().run()
    assert poll_until(at, lambda a: job_status(a) == "failed", 10)
    at.run()
    assert any("Training failed: RuntimeError: kernel exploded" in e.value for e in at.error)
    assert "bundle" not in at.session_state


def _builtin(at, shape: str) -> None:
    load_builtin(at, shape)
    at.switch_page("pages/train_page.py")
    at.run()


def test_defaults_follow_the_kind_of_data_but_keep_what_the_user_set():
    at = open_app("data")
    _builtin(at, "ratings")
    assert at.session_state["prepared"].train.kind == "ratings"
    hp = at.session_state["hp"]
    assert hp["solver"] == "sgd" and {k: hp[k] for k in SGD_EXPLICIT} == SGD_EXPLICIT
    assert any("Defaults for **ratings**: biased SGD" in c.value for c in at.caption)
    at.number_input(key="w_hp_factors").set_value(12).run()
    at.number_input(key="w_hp_lr").set_value(0.02).run()
    # Playlists: untouched settings move to ALS's defaults, what the user set stays.
    _builtin(at, "playlist")
    hp = at.session_state["hp"]
    playlist_als = (ALS_BINARY["reg"], ALS_BINARY["alpha"])
    assert hp["solver"] == "als" and (hp["reg"], hp["alpha"]) == playlist_als
    assert hp["factors"] == 12 and hp["lr"] == 0.02 and hp["monitor"] == "ndcg"
    assert at.number_input(key="w_hp_alpha").value == ALS_BINARY["alpha"]
    assert any("Defaults for **playlists" in c.value and "implicit ALS" in c.value
               for c in at.caption)
    # Back to ratings: the SGD defaults return.
    _builtin(at, "ratings")
    hp = at.session_state["hp"]
    assert (hp["solver"], hp["reg"], hp["biased"]) == ("sgd", SGD_EXPLICIT["reg"], True)
    assert hp["lr"] == 0.02 and hp["factors"] == 12


def test_a_notebook_recipe_is_one_click_away():
    at = open_app("train")
    at.button(key="btn_recipe_msd-notebook").click().run()
    assert_clean(at)
    prepared = at.session_state["prepared"]
    assert prepared.opts.transform == "standardize" and prepared.split.kind == "random"
    hp = at.session_state["hp"]
    assert (hp["solver"], hp["biased"], hp["monitor"]) == ("sgd", True, "val_rmse")
    assert any("Play-count regression study" in i.value for i in at.info)  # by app.py
    assert "Million Song Dataset" in at.button(key="btn_recipe_msd-notebook").help
    train(at, epochs=2, factors=4)
    assert len(at.get("plotly_chart")) == 3  # loss, ranking and RMSE curves


def test_the_keep_models_policy_is_stated_and_prunes_older_runs(monkeypatch):
    from mfcore.runstore import RunHistory

    monkeypatch.setenv("MFX_KEEP_MODELS", "1")
    at = open_app("train")
    assert any("last 1 Train-page run;" in c.value and "Keep this model" in c.value
               for c in at.caption)
    train(at, epochs=1, factors=4)
    first = RunHistory().list_runs(source="app").iloc[0]
    assert isinstance(first["model_path"], str)
    at.button(key="btn_start").click().run()
    assert poll_until(at, lambda a: int(RunHistory().list_runs(source="app").iloc[0]["id"])
                      > first["id"] and job_status(a) == "done", 60)
    second, older = (r for _, r in RunHistory().list_runs(source="app", owner=first["owner"])
                     .iloc[:2].iterrows())
    assert older["id"] == first["id"] and older["model_state"] == "pruned"
    assert not pd.io.common.file_exists(first["model_path"])
    assert isinstance(second["model_path"], str) and pd.isna(second["model_state"])
    at.run()
    at.button(key="btn_train_keep").click().run()  # the finished view's "Keep this model"
    assert_clean(at)
    assert RunHistory().get_run(int(second["id"]))["model_state"] == "pinned"
    assert any("Its model file is pinned" in c.value for c in at.caption)

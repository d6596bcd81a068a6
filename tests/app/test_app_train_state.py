"""Train page: state the user can trust. What the form shows is what Start trains with (the
browser is told every value set by code), the run's own settings stay on a card beside its
curves, and its status never mixes two states (running and finished, last and kept epoch)."""
from __future__ import annotations

import threading

from mfcore.model import EpochStats
from mfcore.train.presets import ALS_VALUES as ALS, SGD_EXPLICIT
from ui.jobs import REGISTRY
from ui.testing import (assert_clean, job_status, load_builtin, open_app, page_file, poll_until,
                        set_number)


def told(at, key: str, value) -> None:
    """The widget holds ``value`` and this run tells the browser to show it: a number field's
    identity is its key alone, so without ``set_value`` the browser keeps (and later sends
    back) what it had."""
    widget = _widget(at, key)
    assert widget.value == value, (key, widget.value, value)
    assert widget.proto.set_value, f"{key}: the browser is not told the new value"


def _widget(at, key: str):
    for kind in ("number_input", "toggle", "selectbox"):
        found = [w for w in getattr(at, kind) if w.key == key]
        if found:
            return found[0]
    raise KeyError(key)


def start_and_cancel(at) -> dict:
    at.button(key="btn_start").click().run()
    assert_clean(at)
    job = REGISTRY.get(at.session_state["job_id"], at.session_state["sid"])
    job.cancel()
    job.wait(10)
    return job.snapshot().info["params"]


def ratings_data(at) -> None:
    load_builtin(at, "ratings")
    at.switch_page(page_file("train")).run()
    assert_clean(at)


def test_restore_defaults_reaches_the_browser_and_the_run():
    at = open_app("train")
    set_number(at, "w_hp_epochs", 400)
    set_number(at, "w_hp_factors", 12)
    set_number(at, "w_hp_reg", 0.5)
    at.run()
    at.button(key="btn_defaults").click().run()
    for key, value in (("w_hp_epochs", ALS["epochs"]), ("w_hp_factors", 100),
                       ("w_hp_reg", ALS["reg"])):
        told(at, key, value)
    at.switch_page(page_file("data")).run()  # leaving and coming back keeps the defaults
    at.switch_page(page_file("train")).run()
    assert at.number_input(key="w_hp_epochs").value == ALS["epochs"]
    params = start_and_cancel(at)
    assert (params["epochs"], params["factors"], params["reg"]) == (ALS["epochs"], 100,
                                                                    ALS["reg"])


def test_biased_toggle_follows_ratings_and_restore_after_a_study():
    at = open_app("train")
    ratings_data(at)
    assert at.toggle(key="w_hp_biased").value is True
    at.button(key="btn_recipe_playlist-notebook").click().run()
    told(at, "w_hp_biased", False)  # the study's unbiased model, shown as such
    at.button(key="btn_defaults").click().run()
    told(at, "w_hp_biased", True)
    told(at, "w_hp_neg_ratio", SGD_EXPLICIT["neg_ratio"])
    assert start_and_cancel(at)["biased"] is True


def test_the_run_card_keeps_the_runs_own_settings():
    at = open_app("train")
    ratings_data(at)
    set_number(at, "w_hp_epochs", 3)
    set_number(at, "w_hp_factors", 6)
    at.run()
    at.button(key="btn_start").click().run()
    assert poll_until(at, lambda a: "bundle" in a.session_state, 60)
    set_number(at, "w_hp_factors", 50)  # the form moves on; the card does not
    at.run()
    card = " ".join(c.value for c in at.caption if c.value.startswith("**"))
    assert "ratings: 300 users" in card and "fingerprint" in card
    assert "transform none" in card and "random split, 20% of all rows" in card
    assert "SGD · k 6 · 3 epochs" in card and "ρ 0" in card and "biased" in card
    assert any(m.value == "**Settings of this run**" for m in at.markdown)


def test_finished_view_replaces_the_progress_line_and_shows_the_kept_epoch():
    at = open_app("train")
    ratings_data(at)
    at.toggle(key="w_hp_early_stopping").set_value(True).run()
    for key, value in (("w_hp_factors", 32), ("w_hp_epochs", 200), ("w_hp_lr", 0.05),
                       ("w_hp_reg", 0.0), ("w_hp_patience", 2)):
        set_number(at, key, value)
    at.run()
    at.button(key="btn_start").click().run()
    assert poll_until(at, lambda a: "bundle" in a.session_state, 60)
    model = at.session_state["bundle"].model
    assert model.status_ == "early_stopped" and model.best_epoch_ < len(model.history_)
    best = model.history_[model.best_epoch_ - 1]
    tiles = {m.label: m for m in at.metric}
    assert tiles["Validation RMSE"].value == f"{best.val_rmse:.4f}"
    assert f"epoch {best.epoch}, kept" in tiles["Validation RMSE"].proto.delta
    (bar,) = at.get("progress")  # the same slot: no "Training…" left beside "Took"
    assert bar.proto.text.startswith(f"Finished: {len(model.history_)} of 200 epochs")
    assert "Took" in tiles and "ETA" not in tiles
    assert f"validation RMSE {best.val_rmse:.4f}" in at.sidebar.markdown[0].value


def test_saving_is_said_while_the_last_epoch_is_recorded_and_sidebar_defers_to_page():
    at = open_app("train")
    release = threading.Event()
    prepared = at.session_state["prepared"]

    def last_epoch_then_save(job):
        job.update_info(total_epochs=2)
        for e in (1, 2):
            job.report_epoch(EpochStats(e, 1.0, float("nan"), float("nan"), 0.1, 1e6,
                                        0.1, 0.2, 0.3, 0.01))
        release.wait(20)  # scoring, saving, recording

    from ui.hparams import model_kwargs
    job = REGISTRY.start(at.session_state["sid"], last_epoch_then_save, label="saving",
                         info={"context": prepared, "params": model_kwargs()})
    try:
        at.session_state["job_id"] = job.id
        at.run()
        assert_clean(at)
        tiles = {m.label: m.value for m in at.metric}
        assert tiles["ETA"] == "saving…" and tiles["Epoch"] == "2 / 2"
        assert at.get("progress")[0].proto.text.startswith("Saving… all 2 epochs done")
        # One timer shows the job on this page; the sidebar says so rather than lag behind it
        # (it polls on the other pages, which AppTest does not draw: it never fires timers).
        assert "Training** · progress on this page" in at.sidebar.markdown[0].value
    finally:
        release.set()
        job.wait(10)
    assert job_status(at) == "done"

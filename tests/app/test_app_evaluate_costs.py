"""Evaluate page: nothing costly runs on opening. The RMSE baselines are scored on request, once
per model and data; a run over every user states its estimated time (from a timed sample)
before it is started."""
from __future__ import annotations

import pytest

from ui.testing import assert_clean, open_app, page_file, poll_until, train, trained_app


class Spy:
    """Counts the calls of a module function and lets them through."""

    def __init__(self, monkeypatch, module, name: str):
        self.calls = 0
        real = getattr(module, name)

        def counted(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, counted)


def sgd_model(app) -> None:
    """Train an SGD model and wait until it is the current one (not the one before it)."""
    ss = app.session_state
    before = ss["bundle"].job_id if "bundle" in ss else None
    app.switch_page(page_file("train")).run()
    app.selectbox(key="w_hp_solver").set_value("sgd").run()
    train(app, epochs=2, factors=8)
    assert poll_until(app, lambda a: a.session_state["bundle"].job_id != before, 60)


def rmse_table(app):
    return next((d for d in app.dataframe if "predictor" in d.value.columns), None)


def captions(app) -> str:
    return " ".join(c.value for c in app.caption)


def test_baselines_are_scored_on_request_once_per_model(monkeypatch):
    from mfcore.evaluate import accuracy
    spy = Spy(monkeypatch, accuracy, "baselines")
    app = open_app()
    sgd_model(app)
    app.switch_page(page_file("evaluate")).run()
    assert_clean(app)
    assert spy.calls == 0 and rmse_table(app) is None
    assert "Press **Score the baselines**" in captions(app)

    app.button(key="btn_baselines").click().run()
    assert_clean(app)
    assert spy.calls == 1
    table = rmse_table(app).value
    assert list(table["predictor"]) == ["model (MF)", "global mean", "biases", "popularity"]
    assert (table["RMSE"] > 0).all()
    assert "validation rows (transform:" in captions(app) and ", scored in " in captions(app)

    app.run()  # a rerun, and a visit to another page and back, reuse the scores
    app.switch_page(page_file("recommend")).run()
    app.switch_page(page_file("evaluate")).run()
    assert spy.calls == 1 and rmse_table(app) is not None

    sgd_model(app)  # a new model drops them: scored again only when asked
    app.switch_page(page_file("evaluate")).run()
    assert_clean(app)
    assert spy.calls == 1 and rmse_table(app) is None
    app.button(key="btn_baselines").click().run()
    assert spy.calls == 2 and rmse_table(app) is not None


@pytest.fixture(scope="module")
def als():
    return trained_app("evaluate", epochs=2)


def test_all_users_shows_the_estimated_time_before_the_run(als, monkeypatch):
    from mfcore.evaluate import estimate
    spy = Spy(monkeypatch, estimate, "estimate_seconds")
    assert not any("Estimated time" in i.value for i in als.info)  # a sample: no estimate
    als.radio(key="w_ev_scope").set_value("all").run()
    assert_clean(als)
    n_users = als.session_state["bundle"].prepared.train.n_users
    (info,) = [i.value for i in als.info if "Estimated time" in i.value]
    assert info.startswith("Estimated time for all ") and "users with relevant items: about " in info
    assert "an estimate from 300 sampled users" in info and "the sample took" in info
    n_all = int(info.split("for all ")[1].split(" users")[0].replace(",", ""))
    assert 0 < n_all <= n_users
    assert spy.calls == 2  # the model's pass and the popularity reference's
    assert not als.session_state["eval_results"]  # nothing run yet
    als.run()
    assert spy.calls == 2  # once per model, data and settings
    als.radio(key="w_ev_direction").set_value("items").run()
    assert spy.calls == 4
    assert any("Estimated time for all" in i.value and "sampled songs" in i.value
               for i in als.info)

    als.radio(key="w_ev_direction").set_value("users").run()
    als.button(key="btn_eval").click().run()  # the run itself: its measured time, no estimate
    assert_clean(als)
    assert spy.calls == 4 and not any("Estimated time" in i.value for i in als.info)
    line = next(c.value for c in als.caption if "in all" in c.value)
    assert "the model at k = 1, 2, 3, 5, 10, 15, 20 in one pass" in line
    assert f"{n_all:,} users evaluated" in line

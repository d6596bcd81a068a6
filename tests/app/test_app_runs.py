"""Runs page: the run history as a table, overlaid curves, load a model, delete, errors."""
from __future__ import annotations

import json

import pytest

from mfcore.prepare import prepare
from mfcore.runs import score_run
from mfcore.runstore import RunHistory
from mfcore.train import MFModel
from ui.session import builtin_dataset
from ui.testing import assert_clean, open_app


def record(hist: RunHistory, model, prepared, *, source: str, save: bool = False) -> int:
    """What the Train page does with a finished model (its file beside the history)."""
    path = hist.save_model(model, prepared.display) if save else None
    return hist.record(score_run(model, prepared), source=source, model_path=path)


@pytest.fixture(scope="module")
def builtin_model():
    prepared = prepare(builtin_dataset())
    model = MFModel(factors=4, epochs=2, lr=0.01, seed=1).fit(prepared.train, prepared.val)
    return prepared, model


@pytest.fixture
def history(tmp_path, monkeypatch, builtin_model):
    path = tmp_path / "runs.sqlite"
    monkeypatch.setenv("MFX_HISTORY_DB", str(path))
    hist = RunHistory(path)
    prepared, model = builtin_model
    with_model = record(hist, model, prepared, source="app", save=True)
    other = MFModel(factors=3, epochs=3, lr=0.02).fit(prepared.train, prepared.val)
    without = record(hist, other, prepared, source="cli")
    return hist, with_model, without


def test_table_compare_load_and_delete(history):
    hist, with_model, without = history
    at = open_app("runs")
    assert [t.value for t in at.title] == ["Runs"]
    assert len(at.dataframe) == 1
    pick = at.multiselect(key="runs_pick")
    assert len(pick.options) == 2

    pick.set_value([with_model, without]).run()
    assert_clean(at)
    fig = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert len(fig["data"]) == 2 and [len(t["x"]) for t in fig["data"]] == [2, 3]

    at.multiselect(key="runs_pick").set_value([with_model]).run()
    assert {d.key for d in at.download_button} >= {"dl_run_history", "dl_run_report",
                                                   "dl_runs_csv"}
    at.button(key="btn_runs_load").click().run()
    assert_clean(at)
    bundle = at.session_state["bundle"]
    assert bundle.label == f"Run #{with_model} from the history"
    assert bundle.model.params["factors"] == 4 and len(bundle.history) == 2
    assert any("is now the current model" in s.value for s in at.success)

    at.multiselect(key="runs_pick").set_value([without]).run()
    assert at.button(key="btn_runs_load").disabled  # no model file saved

    at.multiselect(key="runs_pick").set_value([with_model, without]).run()
    at.button(key="btn_runs_delete").click().run()
    assert_clean(at)
    assert len(hist) == 0
    assert any("Deleted 2 runs" in s.value for s in at.success)
    assert any("No runs recorded yet" in i.value for i in at.info)


def test_source_filter(history):
    at = open_app("runs")
    at.pills(key="runs_sources").set_value(["cli"]).run()
    assert_clean(at)
    assert len(at.multiselect(key="runs_pick").options) == 1


def test_corrupt_history_is_an_error_message(tmp_path, monkeypatch):
    bad = tmp_path / "runs.sqlite"
    bad.write_bytes(b"\x00garbage" * 500)
    monkeypatch.setenv("MFX_HISTORY_DB", str(bad))
    at = open_app("runs")
    assert any(str(bad) in e.value and "cannot be read" in e.value for e in at.error)


def test_incompatible_model_is_refused(history, tmp_path):
    from mfcore.load.synthetic import generate

    hist, _, _ = history
    small = prepare(generate(50, 40, 500, shape="ratings", seed=4))
    other = MFModel(factors=2, epochs=1).fit(small.train, small.val)
    rid = record(hist, other, small, source="cli", save=True)
    at = open_app("runs")
    at.multiselect(key="runs_pick").set_value([rid]).run()
    at.button(key="btn_runs_load").click().run()
    assert_clean(at)
    assert "bundle" not in at.session_state or \
        at.session_state["bundle"].label != f"Run #{rid} from the history"
    assert any("load the dataset it was trained on" in w.value for w in at.warning)

"""Runs page: the run history as a table with every setting, overlaid curves with a warning when
the data differ, filters (source, mine/all, dataset, tags), notes and tags, load a model, delete
one's own runs only, errors."""
from __future__ import annotations

import json

import pytest

from mfcore.prepare import prepare
from mfcore.runs import score_run
from mfcore.runstore import RunHistory
from mfcore.train import MFModel
from ui.session import builtin_dataset, run_owner
from ui.testing import assert_clean, open_app

SID = "ab" * 16  # the browser session of these tests (?sid= in its URL)


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
    hist = RunHistory(path)  # the command line's
    prepared, model = builtin_model
    with_model = record(RunHistory(path, owner=run_owner(SID)), model, prepared, source="app",
                        save=True)
    other = MFModel(factors=3, epochs=3, lr=0.02).fit(prepared.train, prepared.val)
    without = record(hist, other, prepared, source="cli")
    return hist, with_model, without


def mine() -> "AppTest":  # noqa: F821
    return open_app("runs", query={"sid": SID})


def test_table_compare_load_and_delete(history):
    hist, with_model, without = history
    at = mine()
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
    assert list(hist.list_runs()["id"]) == [without]  # the command line's run is kept
    assert any("Deleted 1 run. 1 made by someone else was kept" in s.value for s in at.success)


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


def test_every_setting_is_a_column_and_who_made_it(history):
    _, with_model, without = history
    at = mine()
    table = at.dataframe[0].value
    for column in ("by", "data", "n_users", "n_items", "n_interactions", "fingerprint",
                   "transform", "split", "val_frac", "split_seed", "solver", "factors", "lr",
                   "reg", "biased", "neg_ratio", "alpha", "seed", "note", "tags"):
        assert column in table.columns, column
    by = dict(zip(table["id"], table["by"]))
    assert by[with_model] == "you" and by[without].startswith("command line (")
    at.segmented_control(key="runs_whose").set_value("mine").run()
    assert_clean(at)
    assert list(at.dataframe[0].value["id"]) == [with_model]


def test_runs_on_other_data_are_flagged_and_can_be_filtered_out(history):
    from mfcore.load.synthetic import generate

    hist, with_model, without = history
    small = prepare(generate(50, 40, 500, shape="msd", seed=4))
    other = record(hist, MFModel(factors=2, epochs=2).fit(small.train, small.val), small,
                   source="cli")
    at = mine()
    at.multiselect(key="runs_pick").set_value([with_model, without]).run()
    assert not any("not trained and validated on the same rows" in w.value for w in at.warning)
    at.multiselect(key="runs_pick").set_value([with_model, other]).run()
    assert_clean(at)
    (warning,) = [w.value for w in at.warning if "same rows" in w.value]
    assert "different datasets" in warning and "50 users" in warning and "3,000 users" in warning
    datasets = at.multiselect(key="runs_datasets")
    assert len(datasets.options) == 2
    small_fp = hist.get_run(other)["fingerprint"]
    datasets.set_value([small_fp]).run()
    assert_clean(at)
    assert list(at.dataframe[0].value["id"]) == [other]


def test_notes_and_tags_on_ones_own_runs_only(history):
    _, with_model, without = history
    at = mine()
    at.multiselect(key="runs_pick").set_value([with_model]).run()
    at.text_area(key=f"runs_note_{with_model}").set_value("first try on the built-in data")
    at.text_input(key=f"runs_tags_{with_model}").set_value("demo, baseline")
    at.button(key="btn_runs_annotate").click().run()
    assert_clean(at)
    run = RunHistory().get_run(with_model)
    assert run["note"] == "first try on the built-in data" and run["tags"] == "demo, baseline"
    at.multiselect(key="runs_tags").set_value(["baseline"]).run()
    assert list(at.dataframe[0].value["id"]) == [with_model]
    at.multiselect(key="runs_tags").set_value([]).run()
    at.multiselect(key="runs_pick").set_value([without]).run()
    assert_clean(at)
    assert not at.text_area and not any(b.key == "btn_runs_annotate" for b in at.button)
    assert any("Only the session that made this run" in c.value for c in at.caption)
    assert at.button(key="btn_runs_delete").disabled  # not ours to delete


def test_disk_used_by_model_files_the_policy_and_keep_this_model(history, builtin_model):
    from pathlib import Path

    from mfcore.modelkeep import human_bytes

    hist, with_model, without = history
    prepared, model = builtin_model
    size = Path(hist.get_run(with_model)["model_path"]).stat().st_size
    at = mine()
    assert_clean(at)
    (disk,) = [m.value for m in at.markdown if "on disk" in m.value]
    assert f"Model files of the 2 listed runs: {human_bytes(size)} on disk** (1 file;" in disk
    assert any("last 3 Train-page runs" in c.value and "Keep this model" in c.value
               for c in at.caption)
    column = dict(zip(at.dataframe[0].value["id"], at.dataframe[0].value["model"]))
    assert column == {with_model: human_bytes(size), without: "none"}

    at.multiselect(key="runs_pick").set_value([with_model, without]).run()
    keep = at.button(key="btn_runs_keep")
    assert keep.label == "Keep this model" and not keep.disabled  # only the own run with a file
    keep.click().run()
    assert_clean(at)
    assert hist.get_run(with_model)["model_state"] == "pinned"
    assert any(f"Pinned the model of run #{with_model}" in s.value for s in at.success)
    assert at.button(key="btn_runs_keep").disabled  # already pinned

    # A newer run of the same session with N = 0: the pinned file stays, the newer one goes.
    session = RunHistory(hist.path, owner=run_owner(SID))
    newer = record(session, model, prepared, source="app", save=True)
    assert session.prune_models(0) == [newer]
    at = mine()
    column = dict(zip(at.dataframe[0].value["id"], at.dataframe[0].value["model"]))
    assert column[with_model] == f"{human_bytes(size)} · pinned" and column[newer] == "not kept"
    at.multiselect(key="runs_pick").set_value([newer]).run()
    load = at.button(key="btn_runs_load")
    assert load.disabled and "was not kept" in load.help
    assert at.button(key="btn_runs_keep").disabled  # nothing left to pin

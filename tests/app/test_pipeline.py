"""The command line and the dashboard are one pipeline: same data and settings, same run record.

Both load a file, prepare it with :func:`mfcore.prepare.prepare` and its defaults, train, score
with :func:`mfcore.runs.score_run` and record the run; here the CLI (``mfcore.cli.main``) and the
dashboard (its Data and Train pages, through AppTest) do it on one file, and their records must
agree on everything but the clock.
"""
from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from mfcore.cli import build_parser, main
from mfcore.cli.args import prep_options
from mfcore.prepare import PrepOptions
from mfcore.runstore import RunHistory
from ui.testing import assert_clean, open_app, poll_until, set_number, wait_for_load

SETTINGS = {"factors": 6, "epochs": 3, "reg": 0.05, "alpha": 5.0}
#: Wall-clock figures: the only things allowed to differ between the two records.
TIMINGS = {"fit_seconds", "load_seconds"}


def test_cli_defaults_are_the_engine_defaults():
    args = build_parser().parse_args(["train", "plays.tsv"])
    assert prep_options(args) == PrepOptions()
    assert all(getattr(args, name) is None for name in SETTINGS)  # left to the model


@pytest.fixture
def plays(tmp_path, monkeypatch):
    """A play-count file in the dashboard's data folder, and a fresh run history for both."""
    folder = tmp_path / "data"
    folder.mkdir()
    path = folder / "plays.tsv"
    assert main(["generate", str(path), "--users", "250", "--items", "120",
                 "--interactions", "5000", "--seed", "5"]) == 0
    monkeypatch.setenv("MFX_DATA_DIR", str(folder))
    monkeypatch.setenv("MFX_HISTORY_DB", str(tmp_path / "runs.sqlite"))
    return path.resolve()


def _cli_run(path, capsys) -> dict:
    capsys.readouterr()
    flags = [f"--{k}={v}" for k, v in SETTINGS.items()]
    assert main(["train", str(path), *flags, "--quiet", "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return RunHistory().get_run(out["run_id"])


def _dashboard_run(path) -> dict:
    at = open_app("data")
    at.text_input(key="w_server_path").set_value(path.name).run()
    at.button(key="btn_server").click().run()
    wait_for_load(at)
    assert_clean(at)
    assert at.session_state["prepared"].display.source == at.session_state["raw"].source
    at.switch_page("pages/train_page.py")
    at.run()
    for name, value in SETTINGS.items():
        set_number(at, f"w_hp_{name}", value)
    at.run()
    at.button(key="btn_start").click().run()
    assert poll_until(at, lambda a: "bundle" in a.session_state, 60)
    runs = RunHistory().list_runs(source="app")
    assert len(runs) == 1
    return RunHistory().get_run(int(runs["id"].iloc[0]))


def _comparable(run: dict) -> dict:
    out = {k: v for k, v in run.items()
           if k not in {"id", "created", "source", "owner", "model_path", "metrics", "history"}
           and k not in TIMINGS}
    out["metrics"] = {k: v for k, v in run["metrics"].items() if k not in TIMINGS}
    out["history"] = [{k: h[k] for k in ("epoch", "loss", "train_rmse", "val_rmse", "precision",
                                         "ndcg")} for h in run["history"]]
    return out


def test_cli_and_dashboard_give_the_same_run_record(plays, capsys):
    cli = _cli_run(plays, capsys)
    app = _dashboard_run(plays)
    assert cli["source"] == "cli" and app["source"] == "app"
    assert cli["owner"].startswith("user:") and app["owner"].startswith("session:")
    # same defaults: play counts are log1p-transformed, a random 20 % validation split, seed 0
    assert app["data"]["prepare"] == cli["data"]["prepare"] == asdict(
        PrepOptions(transform="log1p"))
    # one fingerprint: that of the file as loaded
    assert app["fingerprint"] == cli["fingerprint"] == app["data"]["fingerprint"]
    assert cli["params"]["factors"] == 6 and cli["epochs_run"] == 3
    assert cli["params"]["solver"] == "als" and cli["params"]["lr"] is None  # play counts: ALS
    assert all(h["ndcg"] > 0 for h in cli["history"])  # ranked after every iteration
    assert _comparable(app) == _comparable(cli)

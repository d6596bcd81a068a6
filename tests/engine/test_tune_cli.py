"""``python -m mfcore sweep``: the JSON lists every trial and the best; studies extend; errors
are one line."""
from __future__ import annotations

import json

import pytest

from mfcore import cli
from mfcore.runstore import RunHistory


def _last_json(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_documented_command_lists_every_trial_and_the_best(tmp_path, capsys):
    db = tmp_path / "runs.sqlite"
    rc = cli.main(["sweep", "synthetic:ratings", "--sampler", "tpe", "--trials", "4",
                   "--objective", "val_rmse", "--pruner", "median", "--epochs", "2:3",
                   "--factors", "2:8", "--json", "--quiet", "--history-db", str(db),
                   "--report", str(tmp_path / "r.html")])
    assert rc == 0
    out = _last_json(capsys)
    assert out["sampler"] == "tpe" and out["objective"] == "val_rmse" and out["n_trials"] == 4
    assert out["direction"] == "minimize" and out["meta"]["pruner"] == "median"
    for t in out["trials"]:
        assert {"params", "state", "value", "epochs_run", "seconds", "worker"} <= set(t)
        assert t["state"] in ("complete", "pruned", "failed")
        assert set(t["params"]) == {"factors", "epochs", "lr", "reg", "init_std"}
        assert t["worker"].startswith("thread:")
    done = [t["value"] for t in out["trials"] if t["state"] == "complete"]
    assert out["best"]["value"] == min(done)
    assert len(RunHistory(db).list_runs(sweep_id=out["sweep_id"])) == 4
    doc = (tmp_path / "r.html").read_text()
    assert '<script src="http' not in doc and out["sweep_id"] in doc

    assert cli.main(["sweep", "synthetic:ratings", "--resume", out["sweep_id"], "--trials", "2",
                     "--json", "--quiet", "--history-db", str(db)]) == 0
    more = _last_json(capsys)
    assert more["sweep_id"] == out["sweep_id"] and more["n_trials"] == 6
    assert [t["number"] for t in more["trials"]] == list(range(6))


def test_ranking_objective_on_play_counts_with_a_popularity_reference(capsys):
    assert cli.main(["sweep", "synthetic", "--trials", "2", "--objective", "ndcg@5",
                     "--epochs", "2", "--factors", "4:8", "--json", "--no-history"]) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out.strip().splitlines()[-1])
    assert out["objective"] == "ndcg@5" and out["meta"]["solver"] == "als"
    assert out["meta"]["reference"]["popularity"] > 0
    assert "popularity scores" in captured.err and "objective ndcg@5" in captured.err


def test_grid_of_values(capsys):
    assert cli.main(["sweep", "synthetic:ratings", "--sampler", "grid", "--factors", "2,4",
                     "--lr", "0.01", "--reg", "0.05", "--epochs", "1", "--json",
                     "--no-history", "--quiet"]) == 0
    out = _last_json(capsys)
    assert sorted(t["params"]["factors"] for t in out["trials"]) == [2, 4]


@pytest.mark.parametrize("args, needle", [
    (["--objective", "mae"], "--objective: expected val_rmse"),
    (["--sampler", "grid", "--factors", "2:8"], "a grid takes comma-separated values"),
    (["--objective", "val_rmse", "--solver", "als"], "RMSE means nothing"),
    (["--alpha", "1:10"], "does not read alpha"),
    (["--resume", "sw-nope"], "no sweep 'sw-nope'"),
])
def test_bad_settings_are_one_line(args, needle, capsys, tmp_path):
    rc = cli.main(["sweep", "synthetic:ratings", "--epochs", "1", "--history-db",
                   str(tmp_path / "runs.sqlite"), *args])
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and len(err.strip().splitlines()) == 1

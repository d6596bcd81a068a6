"""Sweeps: search spaces, a known-answer grid, cancel, marked trials, importance, job, CLI."""
from __future__ import annotations

import json
import threading

import numpy as np
import pandas as pd
import pytest

from mfcore import cli
from mfcore.errors import ConfigError, MFError
from ui.jobs import JobRegistry
from mfcore.prepare import PrepOptions, prepare
from mfcore.runstore import RunHistory
from mfcore.runstore_sweeps import sweep_from_history
from mfcore.tune import (GRID_DEFAULTS, Range, default_text, eta_squared, grid_trials,
                         parse_values, random_trials, run_sweep, sweep_job)
from mfcore.tune.importance import group_labels


@pytest.fixture(scope="module")
def planted_split(request):
    data = request.getfixturevalue("planted")[0]
    return data, prepare(data, PrepOptions(val_frac=0.2, seed=0))


# ---- search spaces --------------------------------------------------------------------------
def test_grid_is_the_cartesian_product():
    trials = grid_trials(factors=[2, 4], lr=[0.01, 0.02, 0.03], reg=0.1, epochs=[5])
    assert len(trials) == 6
    assert trials[0] == {"factors": 2, "lr": 0.01, "reg": 0.1, "epochs": 5}
    assert [t["factors"] for t in trials] == [2, 2, 2, 4, 4, 4]
    assert len({tuple(t.values()) for t in trials}) == 6
    assert len(grid_trials(factors=[2, 2, 4], lr=0.01, reg=0.1, epochs=5)) == 2  # deduplicated
    with pytest.raises(ConfigError, match="range"):
        grid_trials(factors=Range(2, 8))
    with pytest.raises(ConfigError, match="at most"):
        grid_trials(factors=range(1, 100), lr=list(np.linspace(0.01, 0.1, 30)))
    with pytest.raises(ConfigError, match="integer"):
        grid_trials(factors=[2.5])


def test_one_grid_default_for_the_cli_and_the_tune_page():
    assert grid_trials() == grid_trials(**GRID_DEFAULTS)
    assert len(grid_trials()) == 12
    text = {p: default_text(p, random=False) for p in GRID_DEFAULTS}
    assert text["factors"] == "4, 16, 64"
    assert grid_trials(**{p: parse_values(p, t, random=False) for p, t in text.items()}) == \
        grid_trials()
    rand = {p: parse_values(p, default_text(p, random=True), random=True) for p in text}
    assert random_trials(5, seed=3, **rand) == random_trials(5, seed=3)


def test_random_trials_seeded_and_in_range():
    a = random_trials(200, factors=(4, 64), lr=(1e-3, 1e-1), reg=Range(0.01, 0.1),
                      epochs=[5, 10], seed=7)
    assert a == random_trials(200, factors=(4, 64), lr=(1e-3, 1e-1), reg=Range(0.01, 0.1),
                              epochs=[5, 10], seed=7)
    assert a != random_trials(200, factors=(4, 64), lr=(1e-3, 1e-1), seed=8)
    f = pd.DataFrame(a)
    assert f["factors"].between(4, 64).all() and f["factors"].map(type).eq(int).all()
    assert f["lr"].between(1e-3, 1e-1).all() and set(f["epochs"]) == {5, 10}
    # log-uniform: about half of the draws fall below the geometric midpoint 1e-2
    assert 0.35 < (f["lr"] < 1e-2).mean() < 0.65
    fixed = random_trials(3, factors=8, lr=0.01, reg=0.1, epochs=4)
    assert all(t == {"factors": 8, "lr": 0.01, "reg": 0.1, "epochs": 4} for t in fixed)
    with pytest.raises(ConfigError, match="low > 0"):
        random_trials(2, reg=Range(0.0, 0.1))
    with pytest.raises(ConfigError):
        random_trials(0)


# ---- importance -----------------------------------------------------------------------------
def test_eta_squared_known_values():
    grid = pd.DataFrame(grid_trials(factors=[1, 2, 3], lr=[0.1, 0.2], reg=0.1, epochs=5))
    grid["val_rmse"] = grid["factors"] * 1.0  # only factors matters
    imp = eta_squared(grid)
    assert imp["factors"] == pytest.approx(1.0) and imp["lr"] == pytest.approx(0.0)
    assert "reg" not in imp and "epochs" not in imp  # constant: omitted
    grid["val_rmse"] = grid["factors"] + 10 * (grid["lr"] > 0.15)
    imp = eta_squared(grid)
    assert imp["lr"] > imp["factors"] > 0 and imp["lr"] + imp["factors"] == pytest.approx(1.0)
    grid.loc[0, "status"] = "diverged"
    grid.loc[1:, "status"] = "fitted"
    grid.loc[0, "val_rmse"] = 1e9  # left out
    assert eta_squared(grid)["lr"] > 0.9
    assert eta_squared(grid.iloc[:2]) == {}
    # many distinct values are binned (log scale for lr): 4 equal-width bins in log10
    labels = group_labels(np.geomspace(1e-4, 1, 40), log=True, max_groups=4)
    assert np.bincount(labels).tolist() == [10, 10, 10, 10]


# ---- running --------------------------------------------------------------------------------
def test_planted_rank_wins_and_history_records(planted_split, tmp_path):
    data, sp = planted_split
    hist = RunHistory(tmp_path / "runs.sqlite")
    seen = []
    res = run_sweep(sp, grid_trials(factors=[1, 4, 16], lr=0.05, reg=[0.02, 0.05], epochs=40),
                    history=hist, kind="grid", callback=seen.append)
    frame = res.trials_frame()
    assert res.status == "done" and len(frame) == 6 and [t.index for t in seen] == list(range(6))
    assert res.best["params"]["factors"] == 4, frame[["factors", "reg", "val_rmse"]]
    assert frame.loc[frame["factors"] == 1, "val_rmse"].min() > 2 * res.best["val_rmse"]
    assert set(res.importance) == {"factors", "reg"}
    assert res.importance["factors"] > 0.5
    runs = hist.list_runs(sweep_id=res.sweep_id)
    assert len(runs) == 6 and set(runs["source"]) == {"sweep"}
    assert sorted(runs["id"]) == sorted(frame["run_id"])
    assert set(runs["fingerprint"]) == {data.fingerprint}
    best_run = hist.get_run(res.best["run_id"])
    assert best_run["factors"] == 4 and len(best_run["history"]) == 40
    assert best_run["val_rmse"] == pytest.approx(res.best["val_rmse"])
    sweep = hist.get_sweep(res.sweep_id)
    assert sweep["status"] == "done" and sweep["summary"]["best"]["params"]["factors"] == 4
    json.dumps(res.to_dict(), allow_nan=False)  # JSON-ready


def test_same_trial_same_result_as_a_single_fit(planted_split):
    from mfcore.evaluate.accuracy import score_predictions
    from mfcore.train import MFModel

    data, sp = planted_split
    res = run_sweep(sp, [{"factors": 4, "lr": 0.03, "reg": 0.05, "epochs": 5}],
                    base_params={"seed": 3})
    model = MFModel(factors=4, lr=0.03, reg=0.05, epochs=5, seed=3).fit(sp.train, sp.val)
    assert res.trials[0].val_rmse == pytest.approx(
        score_predictions(model, sp.val, train=sp.train)["rmse"], rel=1e-9)


def test_diverged_and_early_stopped_are_marked_not_fatal(planted_split):
    data, sp = planted_split
    trials = grid_trials(factors=4, lr=[0.05, 50.0], reg=0.02, epochs=5)
    trials.append({"factors": 16, "lr": 0.1, "reg": 0.0, "epochs": 60})
    res = run_sweep(sp, trials, base_params={"early_stopping": True, "patience": 2})
    status = [t.status for t in res.trials]
    assert status[1] == "diverged" and status[2] == "early_stopped"
    assert res.trials[2].epochs_run < 60
    assert res.best["index"] != 1  # a diverged trial is never the best


def test_cancel_keeps_finished_trials(planted_split, tmp_path):
    data, sp = planted_split
    hist = RunHistory(tmp_path / "runs.sqlite")
    cancel = threading.Event()

    def on_epoch(i, stats):  # cancel in the middle of the third trial
        if i == 2 and stats.epoch == 2:
            cancel.set()

    res = run_sweep(sp, grid_trials(factors=[2, 4, 8, 16], lr=0.02, reg=0.05, epochs=5),
                    history=hist, cancel=cancel, epoch_callback=on_epoch)
    assert res.status == "cancelled" and res.n_planned == 4
    assert [t.index for t in res.trials] == [0, 1]  # the interrupted trial is dropped
    assert all(t.status == "fitted" for t in res.trials) and res.best is not None
    assert len(hist.list_runs(sweep_id=res.sweep_id)) == 2
    assert hist.get_sweep(res.sweep_id)["status"] == "cancelled"


def test_sweep_from_history_matches_the_live_result(planted_split, tmp_path):
    data, sp = planted_split
    hist = RunHistory(tmp_path / "runs.sqlite")
    trials = grid_trials(factors=[2, 4], lr=[0.02, 50.0], reg=0.05, epochs=3)  # 2 diverge
    res = run_sweep(sp, trials, history=hist, kind="grid", k=5, metric="precision_at_k",
                    space={"lr": "0.02, 50"}, data_info={"label": "planted"})
    again = sweep_from_history(RunHistory(hist.path), res.sweep_id)
    assert (again.sweep_id, again.kind, again.metric, again.status, again.n_planned) == \
        (res.sweep_id, "grid", "precision_at_k", "done", 4)
    cols = ["trial", "factors", "lr", "reg", "epochs", "status", "val_rmse", "train_rmse",
            "precision_at_k", "epochs_run", "run_id"]
    pd.testing.assert_frame_equal(again.trials_frame()[cols], res.trials_frame()[cols],
                                  check_dtype=False)
    assert again.trials_frame()["seconds"].tolist() == pytest.approx(
        res.trials_frame()["seconds"].tolist())
    assert "diverged" in set(again.trials_frame()["status"])
    for key in ("index", "params", "status", "run_id", "precision_at_k"):
        assert again.best[key] == pytest.approx(res.best[key])
    assert again.importance == pytest.approx(res.importance)
    assert again.wall_seconds == pytest.approx(res.wall_seconds)
    assert again.meta["data"]["label"] == "planted" and again.meta["space"] == {"lr": "0.02, 50"}
    assert again.meta["k"] == 5 and "trials" not in again.meta and not again.warnings

    # Deleting the best run on the Runs page: the best is recomputed over the rest, with a note.
    hist.delete_runs([res.best["run_id"]])
    fewer = sweep_from_history(hist, res.sweep_id)
    assert len(fewer.trials) == 3 and fewer.best["run_id"] != res.best["run_id"]
    assert any("1 of the sweep's 4 trials were deleted" in w for w in fewer.warnings)
    with pytest.raises(MFError, match="no sweep"):
        sweep_from_history(hist, "sw-missing")


def test_precision_metric_and_validation_errors(planted_split):
    data, sp = planted_split
    trials = grid_trials(factors=[2, 4], lr=0.02, reg=0.05, epochs=3)
    res = run_sweep(sp, trials, k=5, metric="precision_at_k")
    p = [t.precision_at_k for t in res.trials]
    assert all(0 <= x <= 1 for x in p)
    assert res.best["precision_at_k"] == max(p)
    with pytest.raises(ConfigError, match="needs k"):
        run_sweep(sp, trials, metric="precision_at_k")
    with pytest.raises(ConfigError, match="validation"):
        run_sweep(prepare(data, PrepOptions(split="none")), trials)
    called = []
    with pytest.raises(ConfigError, match="factors"):
        run_sweep(sp, trials + [{"factors": 0}], callback=called.append)
    assert called == []  # rejected before the first trial


def test_sweep_job_in_registry(planted_split):
    data, sp = planted_split
    reg = JobRegistry(max_jobs=2)
    try:
        job = reg.start("me", sweep_job(sp, grid_trials(factors=[2, 4, 8], lr=0.02, reg=0.05,
                                                        epochs=3)), label="sweep")
        assert job.wait(30)
        snap = job.snapshot()
        assert snap.status == "done" and len(snap.history) == 3 and snap.progress == 1.0
        assert snap.info["n_trials"] == 3 and snap.result.sweep_id == snap.info["sweep_id"]

        gate = threading.Event()
        job2 = reg.start("me", sweep_job(sp, grid_trials(factors=[2, 4, 8], lr=0.02, reg=0.05,
                                                         epochs=200),
                                         epoch_callback=None), label="sweep")
        while not job2.snapshot().history and job2.status == "running":
            gate.wait(0.01)
        job2.cancel()
        assert job2.wait(30)
        snap2 = job2.snapshot()
        assert snap2.status == "cancelled" and snap2.result.status == "cancelled"
        assert 1 <= len(snap2.result.trials) < 3
    finally:
        reg.shutdown()


# ---- command line ---------------------------------------------------------------------------
def _last_json(capsys) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_cli_grid_json_end_to_end(tmp_path, capsys):
    db = tmp_path / "runs.sqlite"
    rc = cli.main(["sweep", "synthetic", "--factors", "2,8", "--lr", "0.01", "--reg",
                   "0.05,0.1", "--epochs", "3", "--k", "5", "--json", "--quiet",
                   "--history-db", str(db), "--report", str(tmp_path / "r.html")])
    assert rc == 0
    out = _last_json(capsys)
    assert out["n_trials"] == 4 and out["status"] == "done" and out["kind"] == "grid"
    t = out["trials"][0]
    assert set(t["params"]) == {"factors", "lr", "reg", "epochs"}
    assert {"status", "val_rmse", "precision_at_k", "seconds", "run_id"} <= set(t)
    assert out["best"]["val_rmse"] == min(x["val_rmse"] for x in out["trials"])
    assert set(out["importance"]) <= {"factors", "reg"} and out["wall_seconds"] > 0
    runs = RunHistory(db).list_runs(sweep_id=out["sweep_id"])
    assert len(runs) == 4 and runs["k"].eq(5).all()
    assert "<script src=\"http" not in (tmp_path / "r.html").read_text()


def test_cli_random_search_and_errors(tmp_path, capsys):
    args = ["sweep", "synthetic", "--random", "3", "--seed", "1", "--factors", "2:8",
            "--lr", "0.005:0.02", "--epochs", "2", "--json", "--quiet"]
    assert cli.main(args) == 0
    out = _last_json(capsys)
    assert out["kind"] == "random" and out["n_trials"] == 3
    assert all(2 <= t["params"]["factors"] <= 8 for t in out["trials"])
    assert cli.main(args) == 0
    assert [t["params"] for t in _last_json(capsys)["trials"]] == \
        [t["params"] for t in out["trials"]]  # seeded

    assert cli.main(["sweep", "synthetic", "--factors", "2:8", "--epochs", "1"]) == 2
    assert "ranges (LO:HI) are for --random" in capsys.readouterr().err
    bad = tmp_path / "bad.sqlite"
    bad.write_bytes(b"not a database at all" * 100)
    assert cli.main(["sweep", "synthetic", "--factors", "2", "--epochs", "1",
                     "--history-db", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and len(err.strip().splitlines()) == 1
    assert cli.main(["sweep", "synthetic", "--metric", "precision_at_k", "--epochs", "1"]) == 2


def test_cli_train_records_in_history(tmp_path, capsys):
    db = tmp_path / "runs.sqlite"
    rc = cli.main(["train", "synthetic", "--factors", "4", "--epochs", "2", "--json",
                   "--quiet", "--history-db", str(db), "--model-out", str(tmp_path / "m.npz")])
    assert rc == 0
    out = _last_json(capsys)
    hist = RunHistory(db)
    run = hist.get_run(out["run_id"])
    assert run["source"] == "cli" and run["factors"] == 4 and len(run["history"]) == 2
    assert run["val_rmse"] == pytest.approx(out["val_rmse"])
    model, _ = hist.load_model(out["run_id"])
    assert model.params["factors"] == 4

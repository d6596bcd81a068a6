"""Studies with Optuna in local threads: space, objective, seeded replay, grid, pruning,
persistence and extension, cancel, divergence, the popularity reference, the job."""
from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading

import pytest

from mfcore.errors import ConfigError
from ui.jobs import JobRegistry
from mfcore.prepare import PrepOptions, prepare
from mfcore.runstore import RunHistory
from mfcore.runstore_sweeps import sweep_from_history
from mfcore.tune import (SEARCHED_BY, Objective, SearchSpace, default_space, parse_entry,
                         parse_objective, run_study, sweep_job)
from mfcore.tune.space import Range


@pytest.fixture(scope="module")
def ratings(request):
    data = request.getfixturevalue("planted")[0]
    return prepare(data, PrepOptions(val_frac=0.2, seed=0))


@pytest.fixture(scope="module")
def counts(request):
    return prepare(request.getfixturevalue("msd_small"))


# ---- search space and objective --------------------------------------------------------------
def test_entries_ranges_choices_and_fixed_values():
    assert parse_entry("lr", "0.001:0.1") == Range(0.001, 0.1, log=True, integer=False)
    assert parse_entry("factors", "8:256") == Range(8, 256, log=True, integer=True)
    assert parse_entry("epochs", "5:40") == Range(5, 40, log=False, integer=True)
    assert parse_entry("confidence", "linear, log1p") == ["linear", "log1p"]
    assert parse_entry("biased", "true,false") == [True, False]
    assert parse_entry("reg", "0.1") == 0.1 and parse_entry("factors", "4:4") == 4
    for name, text, needle in (("factors", "2.5", "--factors: expected an integer"),
                               ("lr", "0:0.1", "log-scaled range needs a low end > 0"),
                               ("reg", "1:0.1", "low end is above"),
                               ("confidence", "a:b", "a range needs numbers"),
                               ("neg_sampling", "often", "expected one of uniform"),
                               ("alpha", "nan", "finite"), ("seed", "1", "not a hyperparameter")):
        with pytest.raises(ConfigError, match=needle):
            parse_entry(name, text)


def test_space_covers_every_hyperparameter_of_the_solver_with_log_scales():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    als = SearchSpace({}, solver="als", kind="counts")
    assert set(als.dims) | set(als.fixed) == set(SEARCHED_BY["als"])
    d = als.distributions()
    assert isinstance(d["factors"], IntDistribution) and d["factors"].log
    assert isinstance(d["epochs"], IntDistribution) and not d["epochs"].log
    assert all(isinstance(d[n], FloatDistribution) and d[n].log for n in ("reg", "alpha"))
    assert isinstance(d["confidence"], CategoricalDistribution)
    sgd = SearchSpace({"neg_sampling": "uniform,popularity"}, solver="sgd", kind="binary")
    assert sgd.distributions()["lr"].log and "neg_ratio" in sgd.dims  # implicit: negatives
    assert SearchSpace({}, solver="sgd", kind="ratings").fixed["neg_ratio"] == 0.0
    assert set(default_space("sgd", "ratings")) == set(SEARCHED_BY["sgd"])
    with pytest.raises(ConfigError, match="does not read alpha"):
        SearchSpace({"alpha": "1:10"}, solver="sgd", kind="ratings")
    with pytest.raises(ConfigError, match="a grid takes comma-separated values"):
        SearchSpace({"factors": "2:8"}, solver="sgd", kind="ratings", grid=True)
    grid = SearchSpace({}, solver="sgd", kind="ratings", grid=True)
    assert grid.grid_size() == 12 and set(grid.dims) == {"factors", "lr", "reg"}
    with pytest.raises(ConfigError, match="at most"):
        SearchSpace({"factors": ",".join(map(str, range(1, 60))), "lr": "0.01,0.02,0.03",
                     "reg": ",".join(f"0.0{i}" for i in range(1, 10)),
                     "epochs": "1,2"}, solver="sgd", kind="ratings", grid=True)


def test_objectives_follow_the_kind_of_data():
    assert parse_objective("auto", kind="ratings") == Objective("val_rmse")
    assert parse_objective(None, kind="counts") == Objective("ndcg", 10)
    assert parse_objective("precision@5") == Objective("precision", 5)
    assert parse_objective("precision_at_k", k=7) == Objective("precision", 7)  # old sweeps
    spec = parse_objective("ndcg@20")
    assert spec.direction == "maximize" and spec.epoch_field == "ndcg"
    assert spec.record_field == "ndcg_at_k" and spec.label == "NDCG@20"
    assert Objective("val_rmse").direction == "minimize"
    for bad in ("ndcg", "ndcg@0", "mae", "ndcg@x"):
        if bad == "ndcg":
            continue  # a bare name takes k
        with pytest.raises(ConfigError, match="--objective"):
            parse_objective(bad)


def test_every_setting_is_checked_before_the_first_trial(ratings, counts):
    called = []
    with pytest.raises(ConfigError, match="RMSE means nothing"):
        run_study(counts, objective="val_rmse", callback=called.append)
    with pytest.raises(ConfigError, match="lr must be"):
        run_study(ratings, {"lr": "0.1,0"}, sampler="grid", callback=called.append)
    with pytest.raises(ConfigError, match="--sampler"):
        run_study(ratings, sampler="cmaes")
    with pytest.raises(ConfigError, match="--pruner"):
        run_study(ratings, pruner="hyperband")
    with pytest.raises(ConfigError, match="validation"):
        run_study(prepare(ratings.display, PrepOptions(split="none")))
    assert called == []


# ---- running ---------------------------------------------------------------------------------
def test_grid_runs_every_point_once_and_the_planted_rank_wins(ratings, tmp_path):
    hist = RunHistory(tmp_path / "runs.sqlite")
    res = run_study(ratings, {"factors": "1,2,4,8", "lr": "0.05", "reg": "0.02",
                              "epochs": "30", "init_std": "0.1"}, sampler="grid",
                    pruner="none", history=hist)
    assert res.status == "done" and res.counts() == {"complete": 4, "pruned": 0, "failed": 0}
    assert sorted(t.params["factors"] for t in res.trials) == [1, 2, 4, 8]
    by_k = {t.params["factors"]: t.value for t in res.trials}
    assert by_k[4] < 0.6 * by_k[2] and by_k[4] < 0.5 * by_k[1]  # rank 4 is planted
    assert res.best["params"]["factors"] in (4, 8)
    assert all(t.worker.startswith("thread:") for t in res.trials)
    runs = hist.list_runs(sweep_id=res.sweep_id)
    assert len(runs) == 4 and set(runs["source"]) == {"sweep"}
    json.dumps(res.to_dict(), allow_nan=False)


def test_a_seeded_study_replays(ratings):
    kw = dict(space={"factors": "2:16", "epochs": "2:6", "init_std": "0.1"}, n_trials=6,
              seed=5, pruner="none")
    a, b = run_study(ratings, **kw), run_study(ratings, **kw)
    assert [t.params for t in a.trials] == [t.params for t in b.trials]
    assert [t.value for t in a.trials] == [t.value for t in b.trials]
    c = run_study(ratings, **{**kw, "seed": 6})
    assert [t.params for t in c.trials] != [t.params for t in a.trials]
    assert set(a.importance) <= {"factors", "epochs", "lr", "reg"}
    assert sum(a.importance.values()) == pytest.approx(1.0)


def _prunable(ratings, pruner, **kw):
    """Half the learning rates are too small to learn anything in 8 epochs."""
    return run_study(ratings, {"lr": "0.00005:0.05", "epochs": "8", "factors": "4",
                               "reg": "0.02", "init_std": "0.1"}, sampler="random",
                     n_trials=14, seed=1, pruner=pruner, **kw)


def test_median_pruning_stops_hopeless_trials_early(ratings, tmp_path):
    hist = RunHistory(tmp_path / "runs.sqlite")
    seen = []
    res = _prunable(ratings, "median", history=hist,
                    epoch_callback=lambda n, e, v: seen.append((n, e)))
    pruned = [t for t in res.trials if t.state == "pruned"]
    assert pruned, [(t.params["lr"], t.value) for t in res.trials]
    assert all(t.epochs_run <= 8 and t.status == "pruned" and t.value is not None
               for t in pruned) and any(t.epochs_run < 8 for t in pruned)
    assert all(max(t.intermediate) == t.epochs_run for t in pruned)
    for t in pruned:  # behind the median of the earlier trials at the epoch it stopped
        e = t.epochs_run
        before = sorted(u.intermediate[e] for u in res.trials
                        if u.number < t.number and e in u.intermediate)
        assert t.intermediate[e] > before[(len(before) - 1) // 2]
    assert res.best["state"] == "complete" and len(seen) == sum(len(t.intermediate)
                                                                for t in res.trials)
    runs = hist.list_runs(sweep_id=res.sweep_id)
    assert (runs["status"] == "pruned").sum() == len(pruned)
    none = _prunable(ratings, "none")
    assert none.counts()["pruned"] == 0 and all(t.epochs_run == 8 for t in none.trials)
    halving = _prunable(ratings, "halving")
    assert halving.counts()["pruned"] >= 1


def test_a_study_persists_reopens_and_extends(ratings, tmp_path):
    hist = RunHistory(tmp_path / "runs.sqlite")
    res = _prunable(ratings, "median", history=hist, data_info={"label": "planted"})
    back = sweep_from_history(hist, res.sweep_id)
    assert back.sampler == "random" and back.objective == "val_rmse" and back.status == "done"
    assert [(t.number, t.state, t.params) for t in back.trials] == \
        [(t.number, t.state, t.params) for t in res.trials]
    assert [t.value for t in back.trials] == pytest.approx([t.value for t in res.trials])
    assert back.best["number"] == res.best["number"] and back.importance == res.importance
    assert back.trials[0].intermediate == pytest.approx(res.trials[0].intermediate)
    more = run_study(ratings, resume=back, n_trials=3, history=hist)
    assert more.sweep_id == res.sweep_id and len(more.trials) == 17
    assert [t.number for t in more.trials] == list(range(17))
    again = sweep_from_history(hist, res.sweep_id)
    assert len(again.trials) == 17 and again.n_planned == 17 and again.status == "done"
    listed = hist.list_sweeps()
    assert listed["best_value"].iloc[0] == pytest.approx(again.best["value"])
    other = prepare(ratings.display.subset(ratings.display.users % 2 == 0))
    with pytest.raises(ConfigError, match="other data"):
        run_study(other, resume=again, n_trials=1)


def test_diverged_trials_fail_and_are_never_the_best(ratings):
    res = run_study(ratings, {"lr": "0.02,50", "factors": "2,4", "epochs": "3", "reg": "0.02"},
                    sampler="grid", pruner="none")
    failed = [t for t in res.trials if t.state == "failed"]
    assert len(failed) == 2 and all(t.params["lr"] == 50 and t.status == "diverged"
                                    and t.value is None and "diverged" in t.error
                                    for t in failed)
    assert res.best["params"]["lr"] == 0.02


def test_cancel_keeps_finished_trials_and_drops_the_rest(ratings, tmp_path):
    hist = RunHistory(tmp_path / "runs.sqlite")
    cancel = threading.Event()
    res = run_study(ratings, {"epochs": "2,100000", "factors": "2", "lr": "0.01",
                              "reg": "0.05"}, sampler="grid", pruner="none", jobs=2,
                    history=hist, cancel=cancel, callback=lambda t: cancel.set())
    assert res.status == "cancelled" and len(res.trials) == 1
    assert res.trials[0].params["epochs"] == 2 and res.trials[0].state == "complete"
    assert len(hist.list_runs()) == 1 and hist.get_sweep(res.sweep_id)["status"] == "cancelled"


def test_ranking_objective_has_a_popularity_reference(counts):
    from mfcore.evaluate.ranking import popularity_model
    from mfcore.runs import ranking_metrics

    res = run_study(counts, {"factors": "4:16", "epochs": "2"}, n_trials=3, pruner="none")
    assert res.objective == "ndcg@10" and res.meta["solver"] == "als"
    want = ranking_metrics(popularity_model(counts.train), counts, k=10)["ndcg_at_k"]
    assert res.meta["reference"]["popularity"] == pytest.approx(want)
    assert all(t.value == t.ndcg_at_k and 0 <= t.value <= 1 for t in res.trials)
    assert all(set(t.intermediate) == {1, 2} for t in res.trials)


def test_study_figures_and_report(counts):
    from mfcore.tune.plots import study_figures, study_report_html

    res = run_study(counts, {"factors": "4:16", "reg": "0.01:1", "epochs": "2"}, n_trials=5,
                    pruner="none", seed=2)
    figs = study_figures(res)
    assert set(figs) == {"history", "importance", "slice", "parallel"}
    ref = res.meta["reference"]["popularity"]
    assert any(s.y0 == pytest.approx(ref) for s in figs["history"].layout.shapes)
    assert figs["parallel"].data and "parallel" in figs["parallel"].layout.title.text
    assert "NDCG@10" in figs["importance"].layout.title.text
    doc = study_report_html(res)
    assert doc.startswith("<!DOCTYPE html>") and '<script src="http' not in doc
    assert doc.count("plotly.js v") == 1 and res.sweep_id in doc


def test_study_job_reports_trials_and_cancels(ratings):
    reg = JobRegistry(max_jobs=2)
    try:
        job = reg.start("me", sweep_job(ratings, {"factors": "2,4", "epochs": "2", "lr": "0.01",
                                                  "reg": "0.05"}, sampler="grid"),
                        label="study")
        assert job.wait(60)
        snap = job.snapshot()
        assert snap.status == "done" and len(snap.history) == 2 and snap.progress == 1.0
        assert snap.info["n_trials"] == 2 and snap.result.sweep_id == snap.info["sweep_id"]
        assert snap.info["meta"]["objective"] == "val_rmse"
        job2 = reg.start("me", sweep_job(ratings, {"factors": "2,4,8", "epochs": "100000",
                                                   "lr": "0.01", "reg": "0.05"},
                                         sampler="grid"), label="study")
        while "last_epoch" not in job2.snapshot().info and job2.status == "running":
            threading.Event().wait(0.02)
        job2.cancel()
        assert job2.wait(30)
        snap2 = job2.snapshot()
        assert snap2.status == "cancelled" and snap2.result.trials == []
    finally:
        reg.shutdown()


def test_optuna_and_dask_load_only_when_used():
    code = ("import sys, mfcore.tune, mfcore.cli, mfcore.runstore_sweeps; "
            "print(sorted(m for m in ('optuna', 'distributed', 'dask') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=str(__import__("pathlib").Path(__file__).parents[2]))
    assert out.stdout.strip() == "[]"


def test_grid_product_is_what_the_sampler_visits(ratings):
    space = {"factors": "2,3", "reg": "0.02,0.05", "epochs": "1", "lr": "0.01"}  # 4 points
    res = run_study(ratings, space, sampler="grid", jobs=2, pruner="none")
    got = {(t.params["factors"], t.params["reg"]) for t in res.trials}
    assert got == set(itertools.product([2, 3], [0.02, 0.05])) and len(res.trials) == 4

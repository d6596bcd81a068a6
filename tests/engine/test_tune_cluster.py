"""Studies on a real Dask cluster: a local scheduler and two worker processes on 127.0.0.1.

The data reaches each worker once, results stream back as trials finish, pruning works on the
workers, cancel stops running and queued trials, and a worker killed mid-trial fails that trial
while the study goes on.
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")

from mfcore import cli  # noqa: E402
from mfcore.errors import ConfigError  # noqa: E402
from mfcore.prepare import PrepOptions, prepare  # noqa: E402
from mfcore.runstore import RunHistory  # noqa: E402
from mfcore.tune import run_study  # noqa: E402
from mfcore.tune.backends import DaskBackend  # noqa: E402

SPACE = {"factors": "2:16", "epochs": "2:6", "init_std": "0.1"}


@pytest.fixture(scope="module")
def ratings(request):
    data = request.getfixturevalue("planted")[0]
    prepared = prepare(data, PrepOptions(val_frac=0.2, seed=0))
    run_study(prepared, SPACE, n_trials=1)  # numba's cache is written before workers load it
    return prepared


@pytest.fixture(scope="module")
def cluster(ratings):
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None) as c, \
            distributed.Client(c) as client:
        client.wait_for_workers(2, timeout=60)
        yield c, client


def test_a_study_on_the_cluster_replays_the_threads_and_ships_data_once(
        ratings, cluster, monkeypatch, tmp_path):
    c, client = cluster
    monkeypatch.setenv("MFX_DASK_SCHEDULER", c.scheduler_address)  # the environment default
    hist = RunHistory(tmp_path / "runs.sqlite")
    events = []
    res = run_study(ratings, SPACE, sampler="random", n_trials=6, seed=5, pruner="none",
                    history=hist,
                    callback=lambda t: events.append(("done", t.number)),
                    epoch_callback=lambda n, e, v: events.append(("epoch", n)))
    assert res.meta["where"]["kind"] == "dask" and res.meta["where"]["workers"] == 2
    workers = set(client.scheduler_info()["workers"])
    assert {t.worker for t in res.trials} <= workers and len({t.worker for t in res.trials}) == 2
    loads: dict = {}
    for t in res.trials:
        loads.setdefault(t.worker, []).append(hist.get_run(t.run_id)["metrics"]["data_loads"])
    assert max(map(len, loads.values())) >= 3  # so data sent per trial would count 3 or more
    for seen in loads.values():  # the data arrived once per worker, never once per trial;
        # under load a broadcast replica can race the first trial (DaskBackend.share): twice
        assert 1 <= min(seen) and max(seen) <= 2
    first_done = next(i for i, (kind, _) in enumerate(events) if kind == "done")
    assert any(kind == "epoch" for kind, _ in events[first_done:])  # streamed, not at the end
    local = run_study(ratings, SPACE, sampler="random", n_trials=6, seed=5, pruner="none",
                      cluster="")
    assert [t.params for t in res.trials] == [t.params for t in local.trials]
    assert [t.value for t in res.trials] == pytest.approx([t.value for t in local.trials])


def test_pruning_works_on_the_workers(ratings, cluster):
    res = run_study(ratings, {"lr": "0.00005:0.05", "epochs": "8", "factors": "4",
                              "reg": "0.02", "init_std": "0.1"}, sampler="random",
                    n_trials=12, seed=1, pruner="median", cluster=cluster[0].scheduler_address)
    pruned = [t for t in res.trials if t.state == "pruned"]
    assert pruned and all(t.epochs_run == max(t.intermediate) <= 8
                          and t.worker.startswith("tcp://127.0.0.1") for t in pruned)
    assert any(t.epochs_run < 8 for t in pruned)  # stopped early, on a worker
    assert res.counts()["complete"] + len(pruned) == 12


def test_cancel_stops_running_and_queued_trials(ratings, cluster):
    c, client = cluster
    cancel = threading.Event()
    timer = threading.Timer(30, cancel.set)  # a safety net only
    timer.start()
    t0 = time.monotonic()
    started = []

    def on_epoch(number, epoch, value):
        started.append(number)
        if len(set(started)) == 2:  # both workers busy, more trials waiting
            cancel.set()

    try:
        res = run_study(ratings, {"factors": "2,4,8,16", "epochs": "100000", "lr": "0.01",
                                  "reg": "0.05"}, sampler="grid", pruner="none",
                        cluster=c.scheduler_address, cancel=cancel, epoch_callback=on_epoch)
    finally:
        timer.cancel()
    assert res.status == "cancelled" and res.trials == [] and time.monotonic() - t0 < 25
    deadline = time.monotonic() + 10
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(client.processing().values())  # nothing left running on the workers


def test_cli_json_says_where_each_trial_ran(cluster, capsys):
    rc = cli.main(["sweep", "synthetic:ratings", "--cluster", cluster[0].scheduler_address,
                   "--trials", "3", "--epochs", "2", "--factors", "2:8", "--no-history",
                   "--json", "--quiet"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["meta"]["where"]["kind"] == "dask" and len(out["trials"]) == 3
    assert all(t["worker"].startswith("tcp://127.0.0.1:") for t in out["trials"])


def test_an_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(ConfigError, match="--cluster tcp://127.0.0.1:9: cannot use"):
        DaskBackend("tcp://127.0.0.1:9", "mfx-test", connect_timeout=1)


def test_a_worker_killed_mid_trial_fails_that_trial_and_the_study_goes_on(ratings, cluster):
    c, client = cluster
    pids = client.run(os.getpid)
    killed = {}

    def on_epoch(number, epoch, value):
        if killed or epoch != 2:
            return
        for address, keys in client.processing().items():
            if any(str(k).endswith(f"-trial-{number}") for k in keys):
                os.kill(pids[address], signal.SIGKILL)  # the worker blocks on our verdict
                killed.update(address=address, number=number)
                return

    res = run_study(ratings, {"factors": "2,4,8,16", "epochs": "4", "lr": "0.01",
                              "reg": "0.05"}, sampler="grid", pruner="none",
                    cluster=c.scheduler_address, epoch_callback=on_epoch)
    assert killed, "no trial was seen running"
    assert res.status == "done" and len(res.trials) == 4
    failed = [t for t in res.trials if t.state == "failed"]
    assert [t.number for t in failed] == [killed["number"]]
    assert "died" in failed[0].error and failed[0].worker == killed["address"]
    assert res.counts()["complete"] == 3

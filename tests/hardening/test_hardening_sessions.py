"""Many users at once: isolation, determinism, responsiveness, the job limit, and no numba
``parallel=True`` anywhere (its threading layer can abort the whole server process)."""
from __future__ import annotations

import importlib
import json
import pkgutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from ui.jobs import REGISTRY
from mfcore.train import MFModel
from ui.testing import assert_clean, job_status, open_app, poll_until, set_number, wait_for_load

ROOT = Path(__file__).resolve().parents[2]
TRIPLETS = "".join(f"user{u}\tSONG{(u * 7 + j) % 40:03d}\t{1 + (u + j) % 5}\n"
                   for u in range(30) for j in range(6))


def prepare(at, **hp) -> None:
    at.switch_page("pages/train_page.py")
    at.run()
    for name, value in hp.items():
        set_number(at, f"w_hp_{name}", value)
    at.run()


def start(at, **hp) -> str:
    if hp:
        prepare(at, **hp)
    at.button(key="btn_start").click().run()
    assert_clean(at)
    assert job_status(at) == "running", [w.value for w in at.warning]
    return at.session_state["job_id"]


def rerun_seconds(at, n: int = 5) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        at.run()
        out.append(time.perf_counter() - t0)
        assert_clean(at)
    return out


def test_sessions_train_at_once_isolated_and_deterministic():
    a = open_app("train")
    b = open_app("data")  # b works on its own upload
    b.file_uploader(key="w_upload").set_value(("mine.tsv", TRIPLETS.encode(), "text/plain"))
    b.run()
    b.button(key="btn_upload").click().run()
    wait_for_load(b)
    assert not b.error and b.session_state["raw"].n_users == 30
    prepare(a, factors=8, epochs=40, seed=1)
    prepare(b, factors=6, epochs=400, seed=2)
    job_a, job_b = start(a), start(b)
    assert job_a != job_b and job_status(a) == "running"  # both train at the same time
    sid_a, sid_b = a.session_state["sid"], b.session_state["sid"]
    # job ids are useless to anyone else, in the registry and in a URL
    assert REGISTRY.get(job_a, sid_b) is None and REGISTRY.get(job_b, sid_a) is None
    assert REGISTRY.get(job_a, "") is None
    for query in ({"job": job_a}, {"sid": sid_b, "job": job_a}):  # a stranger; b forging a URL
        other = open_app("train", query=query)
        assert other.session_state["job_id"] is None, query       # not reattached
        assert not any(m.label == "Epoch" for m in other.metric)   # no live panel of a's run
        assert "last_run" not in other.session_state and "bundle" not in other.session_state
    try:
        assert poll_until(a, lambda x: "bundle" in x.session_state, 60)
        assert poll_until(b, lambda x: "bundle" in x.session_state, 60)
    finally:
        for job_id, sid in ((job_a, sid_a), (job_b, sid_b)):
            REGISTRY.get(job_id, sid).cancel()
            REGISTRY.get(job_id, sid).wait(5)
    for at in (a, b):
        bundle, snap = at.session_state["bundle"], at.session_state["last_run"]
        assert snap.status == "done"
        assert bundle.prepared is at.session_state["prepared"]  # its own data, not the other's
        alone = MFModel(**snap.info["params"]).fit(bundle.prepared.train, bundle.prepared.val)
        for attr in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"):
            assert np.array_equal(getattr(bundle.model, attr), getattr(alone, attr)), attr
    assert a.session_state["bundle"].model.user_factors_.shape == (3000, 8)
    assert b.session_state["bundle"].model.user_factors_.shape == (30, 6)


def test_server_stays_responsive_and_limits_jobs(monkeypatch):
    monkeypatch.setattr(REGISTRY, "max_jobs", 2)
    monkeypatch.setattr(REGISTRY, "takeover_after", 3600.0)  # b stops polling: not gone yet
    a, b, c = open_app("train"), open_app("train"), open_app("train")
    jobs = [start(a, epochs=5000), start(b, epochs=5000)]
    try:
        assert poll_until(a, lambda x: any(m.label == "Epoch" and not m.value.startswith("0 ")
                                           for m in x.metric), 30)
        train_page = rerun_seconds(c)
        c.switch_page("pages/data_page.py")
        c.run()
        data_page = rerun_seconds(c)
        assert job_status(a) == job_status(b) == "running"  # both trained all along
        print(f"\npage reruns during two trainings: Train median "
              f"{statistics.median(train_page):.3f} s (max {max(train_page):.3f}), Data median "
              f"{statistics.median(data_page):.3f} s (max {max(data_page):.3f})")
        # The figures are printed, not asserted (a shared machine's load decides them): the
        # target lives in benchmarks/bench_hardening.py, which measures an idle reference too.
        # a third training is refused with a clear message, and nothing starts
        c.switch_page("pages/train_page.py")
        c.run()
        c.button(key="btn_start").click().run()
        warning = " ".join(w.value for w in c.warning)
        assert "2 training jobs are already running on this server" in warning, warning
        assert "limit is 2 (MFX_MAX_JOBS)" in warning
        assert c.session_state["job_id"] is None and REGISTRY.running_count() == 2
    finally:
        for at, job_id in zip((a, b), jobs):
            job = REGISTRY.get(job_id, at.session_state["sid"])
            job.cancel()
            assert job.wait(5)


def test_a_closed_tab_gives_its_slot_to_a_waiting_user(monkeypatch):
    monkeypatch.setattr(REGISTRY, "max_jobs", 1)
    monkeypatch.setattr(REGISTRY, "takeover_after", 3.0)
    closed = open_app("train")
    job_id = start(closed, epochs=5000)
    sid = closed.session_state["sid"]
    waiting = open_app("train")
    job = REGISTRY.get(job_id, sid)
    assert poll_until(closed, lambda x: len(job.snapshot().history) >= 1, 30)
    waiting.button(key="btn_start").click().run()  # the other tab polled a moment ago
    assert "already running on this server" in " ".join(w.value for w in waiting.warning)
    time.sleep(3.5)  # the tab is closed: it stops polling
    waiting.button(key="btn_start").click().run()
    assert_clean(waiting)
    try:
        assert job_status(waiting) == "running", [w.value for w in waiting.warning]
        assert any("yours took its slot" in i.value for i in waiting.info)
        assert job.wait(30) and job.snapshot().status == "cancelled"
        run_id = job.snapshot().info["run_id"]
        closed.run()  # its owner comes back (the same URL)
        assert any("Your training run was stopped after" in i.value for i in closed.info)
        assert closed.session_state["bundle"].job_id == job_id  # its finished epochs
        from mfcore.runstore import RunHistory
        run = RunHistory().get_run(run_id)
        assert run["status"] == "cancelled" and run["note"].startswith("Stopped: its browser")
    finally:
        REGISTRY.get(waiting.session_state["job_id"], waiting.session_state["sid"]).cancel()


CONCURRENT = r"""
import json, math, threading
from mfcore.evaluate.ranking import evaluate_ranking
from mfcore.load.synthetic import generate
from mfcore.split import random_split
from mfcore.train import MFModel

sp = random_split(generate(1500, 800, 40000, seed=3), val_frac=0.2, seed=0)
base = MFModel(factors=8, epochs=2, seed=9).fit(sp.train, sp.val)
out, errors = {}, []

def trainer(n):
    try:
        m = MFModel(factors=16, epochs=3, threads=2, seed=n, solver="sgd" if n else "als"
                    ).fit(sp.train, sp.val)
        r = evaluate_ranking(m, sp.train, sp.val, k=10)
        out[f"train{n}"] = [m.status_, m.history_[-1].loss, r.precision]
    except BaseException as e:
        errors.append(repr(e))

def ranker(n):
    try:
        for _ in range(3):
            r = evaluate_ranking(base, sp.train, sp.val, k=10, batch_size=200)
        out[f"rank{n}"] = ["ranked", r.recall, r.precision]
    except BaseException as e:
        errors.append(repr(e))

threads = [threading.Thread(target=trainer, args=(n,)) for n in range(3)]
threads += [threading.Thread(target=ranker, args=(n,)) for n in range(3)]
for t in threads: t.start()
for t in threads: t.join()
print(json.dumps({"out": out, "errors": errors}))
"""


def test_parallel_training_and_ranking_in_threads_cannot_abort_the_process():
    proc = subprocess.run([sys.executable, "-c", CONCURRENT], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == []
    assert len(result["out"]) == 6
    for name, (status, a, b) in result["out"].items():
        assert status in ("fitted", "ranked") and np.isfinite(a) and 0 <= b <= 1, name


def test_no_mfcore_kernel_uses_numba_parallel():
    import mfcore
    from numba.core.registry import CPUDispatcher

    kernels = {}
    for mod in pkgutil.walk_packages(mfcore.__path__, "mfcore."):
        if mod.name.endswith("__main__"):
            continue
        module = importlib.import_module(mod.name)
        for name, obj in vars(module).items():
            if isinstance(obj, CPUDispatcher):
                kernels[f"{obj.py_func.__module__}.{name}"] = obj.targetoptions
    assert len(kernels) >= 4, kernels  # the SGD kernels and the ranking kernels at least
    assert not [k for k, opts in kernels.items() if opts.get("parallel")], kernels
    assert all(opts.get("nogil") for opts in kernels.values()), kernels
    for path in (ROOT / "mfcore").rglob("*.py"):  # nor a vectorize(target='parallel') / prange
        text = path.read_text()
        assert "parallel=True" not in text and "prange" not in text, path
        assert "target='parallel'" not in text and 'target="parallel"' not in text, path

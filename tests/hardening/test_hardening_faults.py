"""Faults: divergence, cancel latency at full size, worker exceptions, gone sessions, crashes
mid-save, and runs refused for memory — nothing lost, nothing leaked."""
from __future__ import annotations

import gc
import subprocess
import sys
import time
import weakref
from pathlib import Path

import numpy as np
import pytest

from mfcore.interactions import Interactions
from mfcore.modelio import load_model, save_model
from mfcore.prepare import PrepOptions, prepare
from mfcore.train import MFModel
from ui.jobs import REGISTRY, JobRegistry
from ui.training import training_job
from ui.session import builtin_dataset
from ui.testing import assert_clean, job_status, open_app, poll_until, set_number, train

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def builtin():
    return prepare(builtin_dataset())


def same_model(m1, m2) -> bool:
    return all(np.array_equal(getattr(m1, a), getattr(m2, a))
               for a in ("user_factors_", "item_factors_", "user_bias_", "item_bias_"))


# ---- divergence -----------------------------------------------------------------------------
def test_huge_learning_rate_diverges_within_the_first_epoch(builtin):
    model = MFModel(factors=32, epochs=20, lr=50.0, solver="sgd").fit(builtin.train,
                                                                     builtin.val)
    assert model.status_ == "diverged"
    epoch, step = model.diverged_at_
    assert epoch == 1 and 0 <= step < len(builtin.train)  # caught mid-epoch, not after
    assert model.history_ == []
    assert np.isfinite(model.user_factors_).all()  # the last good state was restored


def test_divergence_in_the_ui_keeps_the_model_and_suggests_a_smaller_lr():
    at = open_app()
    train(at, epochs=2, factors=4)
    before = at.session_state["bundle"]
    at.selectbox(key="w_hp_solver").set_value("sgd").run()
    set_number(at, "w_hp_lr", 1.0)  # the largest the page allows; log1p values, 30 epochs
    at.run()
    at.button(key="btn_start").click().run()
    assert poll_until(at, lambda a: job_status(a) == "diverged", 30)
    at.run()
    errors = " ".join(e.value for e in at.error)
    assert "Training diverged in epoch 1" in errors, errors
    assert "try a smaller one such as 0.25" in errors
    assert at.button(key="btn_retry").label == "Retry with γ = 0.25"
    assert at.session_state["bundle"] is before  # the previous model stays current


# ---- cancel at the size of the largest built-in dataset ----------------------------------------
def test_cancel_within_a_second_at_the_largest_builtin_size():
    """The Data page offers up to 200,000 users × 100,000 songs × 5,000,000 plays. Generating it
    takes ~17 s, so the test uses random rows of the same shape (what training cost depends on);
    ``benchmarks/bench_hardening.py`` measures the real generated dataset."""
    rng = np.random.default_rng(0)
    n_users, n_items, n = 200_000, 100_000, 5_000_000
    data = Interactions.from_codes(rng.integers(0, n_users, n).astype(np.int32),
                                   rng.integers(0, n_items, n).astype(np.int32),
                                   rng.integers(1, 20, n).astype(np.float32),
                                   np.arange(n_users), np.arange(n_items), source="big")
    prepared = prepare(data, PrepOptions(transform="none"))  # a random 20 % split, raw values
    reg = JobRegistry(max_jobs=1)
    try:
        job = reg.start("me", training_job(MFModel(factors=32, epochs=1000), prepared),
                        label="big")
        deadline = time.monotonic() + 60
        while not job.snapshot().history and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # somewhere inside the second epoch
        t0 = time.perf_counter()
        job.cancel()
        assert job.wait(5)
        latency = time.perf_counter() - t0
    finally:
        reg.shutdown()
    print(f"\ncancel latency at 200k × 100k × 5M rows, k = 32: {latency:.3f} s")
    snap = job.snapshot()
    assert snap.status == "cancelled" and len(snap.history) >= 1
    assert latency < 1.0, latency


# ---- a worker exception reaches the UI ------------------------------------------------------
def test_worker_exception_is_shown_and_the_model_kept(monkeypatch):
    at = open_app()
    train(at, epochs=2, factors=4)
    before = at.session_state["bundle"]

    def explode(self, *args, **kwargs):
        raise FloatingPointError("kernel exploded in epoch 1")

    monkeypatch.setattr(MFModel, "fit", explode)
    at.button(key="btn_start").click().run()
    assert poll_until(at, lambda a: job_status(a) == "failed", 10)
    at.run()
    assert_clean(at)  # shown by the page, not as an uncaught exception
    errors = [e.value for e in at.error]
    assert errors == ["Training failed: FloatingPointError: kernel exploded in epoch 1"], errors
    assert at.session_state["bundle"] is before
    assert not at.button(key="btn_start").disabled  # the user can start again


# ---- a session that disconnects mid-training ----------------------------------------------
def test_jobs_of_gone_sessions_are_cancelled_and_freed(builtin):
    reg = JobRegistry(max_jobs=2, grace_seconds=0.3)
    try:
        model = MFModel(factors=8, epochs=100_000)
        model_ref = weakref.ref(model)
        gone = reg.start("gone", training_job(model, builtin), label="left",
                         info={"context": builtin})
        del model
        alive = reg.start("alive", training_job(MFModel(factors=8, epochs=100_000), builtin),
                          label="here")
        ref = weakref.ref(gone)
        end = time.monotonic() + 3
        while not gone.wait(0.05) and time.monotonic() < end:
            reg.touch("alive")  # this owner keeps polling; "gone" closed its tab
        assert gone.wait(0), "the reaper should have cancelled the gone session's job"
        assert gone.snapshot().status == "cancelled"
        assert reg.list("gone") == [] and reg.get(gone.id, "gone") is None
        assert alive.status == "running" and reg.get(alive.id, "alive") is alive
        alive.cancel()
        assert alive.wait(5)
        gone.thread.join(5)
        del gone
        gc.collect()
        assert ref() is None and model_ref() is None  # nothing keeps the job or its data alive
    finally:
        reg.shutdown()


# ---- crash mid-save ---------------------------------------------------------------------------
def test_a_crash_while_saving_a_model_leaves_the_previous_file(builtin, tmp_path, monkeypatch):
    import mfcore._atomic as atomic

    old = MFModel(factors=4, epochs=1, seed=1).fit(builtin.train, builtin.val)
    new = MFModel(factors=4, epochs=2, seed=2).fit(builtin.train, builtin.val)
    path = save_model(old, tmp_path / "model.npz", data=builtin.display)
    real_savez = np.savez

    def half_then_crash(f, **arrays):
        import io
        buf = io.BytesIO()
        real_savez(buf, **arrays)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.np, "savez", half_then_crash)
    with pytest.raises(OSError, match="No space left"):
        save_model(new, path, data=builtin.display)
    monkeypatch.undo()
    loaded, meta = load_model(path)
    assert same_model(loaded, old) and meta["params"]["seed"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # no temp file left behind
        "model.npz", f"seen-{builtin.display.fingerprint}.npz"]


CRASH = r"""
import os, sys
from mfcore.runs import RunRecord
from mfcore.runstore import RunHistory

class Crashing(RunHistory):
    def _open(self):
        conn = super()._open()
        seen = []
        def trace(sql):
            if sql.startswith("INSERT INTO epochs"):
                seen.append(sql)
                if len(seen) == 3:
                    os._exit(3)  # the process dies half-way through the run's epochs
        conn.set_trace_callback(trace)
        return conn

hist = [dict(epoch=e, loss=1.0, train_rmse=1.0, val_rmse=1.0, seconds=0.1,
             ratings_per_s=1e6) for e in range(1, 11)]
Crashing(sys.argv[1]).record(RunRecord(status="fitted", history=hist, params={"factors": 9}),
                             source="cli")
"""


def test_a_crash_while_recording_a_run_leaves_the_history_intact(tmp_path):
    import sqlite3

    from mfcore.runs import RunRecord
    from mfcore.runstore import RunHistory

    path = tmp_path / "runs.sqlite"
    hist = RunHistory(path)
    first = hist.record(RunRecord(status="fitted", params={"factors": 4}, history=[
        dict(epoch=1, loss=2.0, train_rmse=1.5, val_rmse=1.6, seconds=0.1, ratings_per_s=1e6)]),
        source="cli")
    proc = subprocess.run([sys.executable, "-c", CRASH, str(path)], cwd=ROOT, timeout=120,
                          capture_output=True, text=True)
    assert proc.returncode == 3, proc.stderr  # it really died mid-transaction
    runs = RunHistory(path).list_runs()
    assert runs["id"].tolist() == [first]  # the half-written run is not there
    assert RunHistory(path).get_run(first)["history"][0]["val_rmse"] == 1.6
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT COUNT(*) FROM epochs").fetchone()[0] == 1
    assert RunHistory(path).record(RunRecord(status="fitted"), source="cli") > first


# ---- memory -------------------------------------------------------------------------------------
def test_a_run_that_does_not_fit_is_refused_with_the_numbers(monkeypatch):
    import mfcore.train.memory as model_mod

    monkeypatch.setattr(model_mod, "_available_memory", lambda: 10 * 2**20)  # 10 MiB free
    at = open_app("train")
    set_number(at, "w_hp_factors", 1024)
    at.run()
    at.button(key="btn_start").click().run()
    assert_clean(at)
    warning = " ".join(w.value for w in at.warning)
    assert "training needs about 36.1 MiB" in warning, warning
    assert "3,000 users + 1,500 items × 1024 factors" in warning
    assert "only 10.0 MiB is available" in warning
    assert at.session_state["job_id"] is None and "last_run" not in at.session_state
    monkeypatch.setattr(model_mod, "_available_memory", lambda: 64 * 2**30)
    set_number(at, "w_hp_factors", 4)
    set_number(at, "w_hp_epochs", 1)
    at.run()
    at.button(key="btn_start").click().run()
    assert not at.warning and at.session_state["job_id"] is not None  # enough memory: it runs
    REGISTRY.get(at.session_state["job_id"], at.session_state["sid"]).wait(30)


def test_the_cli_refuses_a_run_that_does_not_fit(monkeypatch, tmp_path, capsys):
    import mfcore.train.memory as model_mod
    from mfcore.cli import main

    path = tmp_path / "plays.tsv"
    assert main(["generate", str(path), "--users", "300", "--items", "150", "--interactions",
                 "6000", "--seed", "3"]) == 0
    monkeypatch.setattr(model_mod, "_available_memory", lambda: 2**20)
    capsys.readouterr()
    code = main(["train", str(path), "--factors", "512", "--epochs", "1", "--no-history"])
    err = capsys.readouterr().err
    assert code != 0 and "training needs about" in err and "is available" in err, err
    assert len(err.strip().splitlines()) == 1

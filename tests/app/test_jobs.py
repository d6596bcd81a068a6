"""JobRegistry with real threads and fake job functions (no Streamlit)."""
from __future__ import annotations

import threading
import time

import pytest

from mfcore.errors import DataError, ResourceError
from ui.jobs import REGISTRY, JobRegistry


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def epochs_fn(n: int, delay: float = 0.0):
    def fn(job):
        for e in range(n):
            if job.cancel_event.is_set():
                return "partial"
            time.sleep(delay)
            job.report_epoch({"epoch": e + 1})
            job.report_progress((e + 1) / n, f"epoch {e + 1}")
        job.set_result("model")
    return fn


def blocking_fn(release: threading.Event):
    def fn(job):
        while not job.cancel_event.is_set() and not release.is_set():
            time.sleep(0.01)
    return fn


@pytest.fixture
def registry():
    reg = JobRegistry(max_jobs=2, grace_seconds=600)
    yield reg
    reg.shutdown()


def test_job_runs_and_reports(registry):
    job = registry.start("alice", epochs_fn(5), label="train")
    assert job.wait(5)
    snap = job.snapshot()
    assert snap.status == "done"
    assert [h["epoch"] for h in snap.history] == [1, 2, 3, 4, 5]
    assert snap.result == "model" and snap.progress == 1.0
    assert snap.finished is not None and snap.finished >= snap.started
    assert snap.owner == "alice" and snap.label == "train" and snap.error is None


def test_snapshot_is_a_copy(registry):
    job = registry.start("alice", epochs_fn(3), label="t")
    job.wait(5)
    snap = job.snapshot()
    snap.history.append("mutated")
    assert len(job.snapshot().history) == 3


def test_cancel_stops_within_a_second_and_keeps_history(registry):
    job = registry.start("alice", epochs_fn(10_000, delay=0.01), label="t")
    time.sleep(0.1)
    t0 = time.monotonic()
    job.cancel()
    assert job.wait(1.0)
    assert time.monotonic() - t0 < 1.0
    snap = job.snapshot()
    assert snap.status == "cancelled"
    assert 0 < len(snap.history) < 10_000
    assert snap.result == "partial"  # the function's return value is kept


def test_worker_exception_is_stored(registry):
    def boom(job):
        job.report_epoch({"epoch": 1})
        raise ZeroDivisionError("division by zero")
    job = registry.start("alice", boom, label="t")
    job.wait(5)
    snap = job.snapshot()
    assert snap.status == "failed"
    assert snap.error == "ZeroDivisionError: division by zero"
    assert len(snap.history) == 1


def test_mferror_message_is_shown_as_is(registry):
    def bad(job):
        raise DataError("not enough rows", source="x.tsv")
    job = registry.start("alice", bad, label="t")
    job.wait(5)
    assert job.snapshot().error == "x.tsv: not enough rows"


def test_explicit_final_status(registry):
    job = registry.start("alice", lambda j: j.set_result("m", status="diverged"), label="t")
    job.wait(5)
    assert job.snapshot().status == "diverged" and job.snapshot().result == "m"
    with pytest.raises(ValueError):
        job.set_result("m", status="running")


def test_owner_isolation(registry):
    job = registry.start("alice", epochs_fn(1), label="t")
    assert registry.get(job.id, "alice") is job
    assert registry.get(job.id, "bob") is None
    assert registry.get("nonexistent", "alice") is None
    assert registry.get(None, "alice") is None
    assert registry.list("bob") == []
    assert registry.list("alice") == [job]


def test_two_jobs_at_once_do_not_mix(registry):
    a = registry.start("alice", epochs_fn(50, 0.001), label="a")
    b = registry.start("bob", epochs_fn(30, 0.001), label="b")
    assert a.wait(5) and b.wait(5)
    assert len(a.snapshot().history) == 50 and len(b.snapshot().history) == 30


def test_max_jobs_bound(registry):
    release = threading.Event()
    registry.start("alice", blocking_fn(release), label="a")
    registry.start("bob", blocking_fn(release), label="b")
    with pytest.raises(ResourceError, match=r"2 training jobs are already running.*limit is 2"):
        registry.start("carol", epochs_fn(1), label="c")
    assert registry.running_count() == 2
    release.set()
    for j in registry.list("alice") + registry.list("bob"):
        j.wait(5)
    job = registry.start("carol", epochs_fn(1), label="c")  # room again
    assert job.wait(5)


def test_idle_owner_jobs_are_cancelled_and_dropped():
    clock = FakeClock()
    reg = JobRegistry(max_jobs=2, grace_seconds=600, clock=clock)
    try:
        release = threading.Event()
        gone = reg.start("gone", blocking_fn(release), label="g")
        alive = reg.start("alive", blocking_fn(release), label="a")
        clock.t += 400
        reg.touch("alive")
        assert reg.reap() == []
        clock.t += 300  # "gone" last seen 700 s ago, "alive" 300 s ago
        assert reg.reap() == [gone.id]
        assert gone.wait(2) and gone.snapshot().status == "cancelled"
        assert reg.get(gone.id, "gone") is None
        assert reg.get(alive.id, "alive") is alive and alive.status == "running"
    finally:
        reg.shutdown()


def test_reaper_thread_runs_without_calls():
    reg = JobRegistry(max_jobs=1, grace_seconds=0.2)
    try:
        job = reg.start("gone", blocking_fn(threading.Event()), label="g")
        assert job.wait(3), "the reaper should cancel the job of an owner who stopped polling"
        assert job.snapshot().status == "cancelled"
        assert reg.running_count() == 0
    finally:
        reg.shutdown()


def test_finished_jobs_are_bounded_per_owner():
    reg = JobRegistry(max_jobs=2, keep_finished=2)
    jobs = []
    for _ in range(4):
        j = reg.start("alice", epochs_fn(1), label="t")
        j.wait(5)
        jobs.append(j)
    kept = reg.list("alice")
    assert kept == jobs[-2:]
    assert reg.forget(jobs[-1].id, "alice") and reg.list("alice") == [jobs[-2]]
    assert not reg.forget(jobs[-2].id, "bob")


def test_module_registry_reads_limits_from_env():
    assert REGISTRY.max_jobs >= 1 and REGISTRY.grace_seconds > 0

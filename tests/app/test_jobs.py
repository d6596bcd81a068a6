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


# ---- owners that are gone: their slots and their memory --------------------------------------
def test_a_waiting_user_takes_the_slot_of_a_closed_tab():
    clock = FakeClock()
    reg = JobRegistry(max_jobs=1, grace_seconds=600, takeover_after=30, clock=clock)
    try:
        gone = reg.start("gone", blocking_fn(threading.Event()), label="g")
        clock.t += 20
        with pytest.raises(ResourceError, match="tab has been closed for 30 s gives its slot"):
            reg.start("alice", epochs_fn(1), label="a")  # not gone yet: 20 s unseen
        clock.t += 11
        job = reg.start("alice", epochs_fn(1), label="a")
        assert job.snapshot().info["took_slot"] is True
        assert gone.wait(2) and gone.snapshot().status == "cancelled"
        assert "browser tab was closed 31 s before" in gone.snapshot().info["cancel_reason"]
        assert job.wait(5) and job.snapshot().status == "done"
        assert reg.running_count() == 0
    finally:
        reg.shutdown()


def test_a_job_past_its_training_keeps_its_slot_though_its_tab_is_gone():
    # Scoring and saving (found by review): the cancel would not stop them, so taking the
    # slot would run one job too many and note a finished run as stopped.
    clock = FakeClock()
    reg = JobRegistry(max_jobs=1, grace_seconds=600, takeover_after=30, clock=clock)
    release = threading.Event()
    try:
        gone = reg.start("gone", blocking_fn(release), label="g")
        gone.update_info(fitting=False)
        clock.t += 100
        with pytest.raises(ResourceError):
            reg.start("alice", epochs_fn(1), label="a")
        assert gone.status == "running" and not gone.cancelled
    finally:
        release.set()
        reg.shutdown()


def test_an_open_tab_keeps_its_slot_however_long_it_is_idle():
    clock = FakeClock()
    reg = JobRegistry(max_jobs=1, grace_seconds=600, takeover_after=30, clock=clock)
    open_clients = {"tab-1"}
    reg.presence.connected = lambda client: client in open_clients
    try:
        reg.touch("bob", client="tab-1")  # a background tab: connected, rarely polling
        bob = reg.start("bob", blocking_fn(threading.Event()), label="b")
        clock.t += 1000
        with pytest.raises(ResourceError):
            reg.start("carol", epochs_fn(1), label="c")
        assert reg.reap() == [] and bob.status == "running"
        open_clients.clear()  # the tab is closed
        assert reg.start("carol", epochs_fn(1), label="c").wait(5)
        assert bob.wait(2) and bob.snapshot().status == "cancelled"
    finally:
        reg.shutdown()


def test_finished_jobs_of_gone_owners_are_dropped_and_the_owners_forgotten():
    from ui.jobs import FINISHED_KEPT_S
    clock = FakeClock()
    reg = JobRegistry(max_jobs=2, grace_seconds=600, clock=clock)
    try:
        gone = reg.start("gone", epochs_fn(1), label="g")
        stays = reg.start("stays", epochs_fn(1), label="s")
        assert gone.wait(5) and stays.wait(5)
        clock.t += FINISHED_KEPT_S - 1
        assert reg.reap() == []  # a closed tab may still reconnect and adopt its result
        clock.t += 2
        reg.touch("stays")
        assert reg.reap() == [gone.id]
        assert reg.presence.owners() == ["stays"]
        assert reg.get(stays.id, "stays") is stays
    finally:
        reg.shutdown()


def test_presence_forgets_closed_connections():
    from ui.presence import Presence
    clock = FakeClock()
    states = {"a": True, "b": False}
    p = Presence(clock, connected=states.get)
    p.touch("o", "a")
    p.touch("o", "b")
    assert p.is_connected("o") is True and p.idle("o") == 0
    states["a"] = False
    assert p.is_connected("o") is False
    clock.t += 5
    assert p.gone("o", 4) and not p.gone("o", 6)
    assert p.idle("never seen") == float("inf")
    assert Presence(clock).is_connected("o") is None  # nothing can tell


def test_a_run_stopped_for_another_user_keeps_its_epochs_with_a_note(tmp_path):
    from mfcore.load.synthetic import generate
    from mfcore.prepare import prepare
    from mfcore.runstore import RunHistory
    from mfcore.train import MFModel
    from ui.training import training_job

    clock = FakeClock()
    reg = JobRegistry(max_jobs=1, takeover_after=30, clock=clock)
    prepared = prepare(generate(80, 50, 1200, shape="ratings", seed=2))
    hist = RunHistory(tmp_path / "runs.sqlite", owner="session:gone")
    try:
        gone = reg.start("gone", training_job(MFModel(factors=4, epochs=100_000), prepared,
                                              history=hist), label="long run")
        deadline = time.monotonic() + 30
        while len(gone.snapshot().history) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        clock.t += 31
        reg.start("alice", epochs_fn(1), label="a")
        assert gone.wait(30)
        snap = gone.snapshot()
        assert snap.status == "cancelled" and snap.info["run_id"] is not None
        run = hist.get_run(snap.info["run_id"])
        assert run["status"] == "cancelled" and len(run["history"]) >= 2
        assert run["note"].startswith("Stopped: its browser tab was closed")
    finally:
        reg.shutdown()


def test_a_gone_owner_seen_again_is_not_forgotten():
    from ui.presence import Presence
    clock = FakeClock()
    presence = Presence(clock=clock)
    presence.touch("dora")
    clock.t += 200
    presence.touch("dora")  # back just before the reaper's second look
    assert not presence.forget("dora", unseen_for=150) and presence.idle("dora") == 0
    clock.t += 151
    assert presence.forget("dora", unseen_for=150) and presence.idle("dora") == float("inf")

"""Background jobs (training runs, sweeps) of the dashboard, usable without Streamlit.

A :class:`JobRegistry` runs each job's function in a daemon thread. The function never touches a
user interface: it reports through its :class:`Job` (``report_epoch``, ``report_progress``,
``set_result``), and pages poll :meth:`Job.snapshot`, a consistent copy taken under the job's lock.

One registry serves a whole server process (:data:`REGISTRY`), so several browser sessions share
it. Every job belongs to an *owner* (a session token): :meth:`JobRegistry.get` and
:meth:`JobRegistry.list` only show an owner its own jobs. The registry

- bounds the number of jobs running at once (``max_jobs``, env ``MFX_MAX_JOBS``, default 2) and
  raises :class:`~mfcore.errors.ResourceError` with a clear message when the bound is reached;
- catches every exception raised by a job's function and stores its message on the job (status
  ``'failed'``), so a failure is never silent;
- never lets the jobs of gone owners starve present ones: an owner is *gone* once it has not
  been seen (:meth:`JobRegistry.touch`, ``get``/``list``/``start``) for ``takeover_after``
  seconds (env ``MFX_JOB_TAKEOVER_S``, default 30) and none of its browser connections is open
  (:mod:`ui.presence`). When every slot is taken, a new job takes the slot of a gone owner's
  running job, which is cancelled (a training run keeps its finished epochs, recorded in the
  run history); gone owners' finished jobs are dropped after :data:`FINISHED_KEPT_S`;
- cancels and drops every job of an owner gone for ``grace_seconds`` (env
  ``MFX_JOB_GRACE_S``, default 600) even when nobody needs its slot.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

from mfcore.errors import ResourceError

from .presence import Presence
from .text import error_text

__all__ = ["Job", "JobRegistry", "JobSnapshot", "REGISTRY", "STATUSES", "FINAL_STATUSES",
           "FINISHED_KEPT_S"]

log = logging.getLogger(__name__)

#: Every status a job can have; all but ``'running'`` are final.
STATUSES = ("running", "done", "cancelled", "diverged", "failed")
FINAL_STATUSES = frozenset(STATUSES[1:])
#: Seconds a gone owner's finished jobs are kept: Streamlit keeps a closed tab's session 120 s
#: for a reconnect, which then adopts the result.
FINISHED_KEPT_S = 150.0


@dataclass(frozen=True)
class JobSnapshot:
    """A consistent, read-only copy of a job's state at one moment."""

    id: str
    owner: str
    label: str
    status: str
    history: list
    error: str | None
    progress: float
    message: str
    started: float
    finished: float | None
    result: Any = None
    info: dict = field(default_factory=dict)

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def elapsed(self) -> float:
        """Seconds since the start, up to the end for a finished job (wall clock)."""
        return (self.finished if self.finished is not None else time.time()) - self.started


class Job:
    """One background job. Its function reports through the methods below (thread-safe)."""

    def __init__(self, owner: str, label: str, info: dict | None = None) -> None:
        self.id = uuid.uuid4().hex[:16]
        self.owner = owner
        self.label = label
        self.cancel_event = threading.Event()
        self._lock = threading.Lock()
        self._status = "running"
        self._history: list = []
        self._error: str | None = None
        self._progress = 0.0
        self._message = ""
        self._result: Any = None
        self._final_status: str | None = None
        self._info = dict(info or {})
        self.started = time.time()
        self._finished: float | None = None
        self._done = threading.Event()
        self.thread: threading.Thread | None = None
        #: The job gave its slot up (:meth:`give_up_slot`) and is stopping.
        self.preempted = False

    # ---- called by the job's function (worker thread) ------------------------------------
    def report_epoch(self, stats: Any) -> None:
        """Append one epoch's statistics to the history."""
        with self._lock:
            self._history.append(stats)

    def report_progress(self, fraction: float, message: str = "") -> None:
        """Set the progress (0..1) and a short message."""
        with self._lock:
            self._progress = min(max(float(fraction), 0.0), 1.0)
            self._message = str(message)

    def set_result(self, obj: Any, status: str | None = None) -> None:
        """Store the job's result; ``status`` (e.g. ``'diverged'``) overrides the final status."""
        if status is not None and status not in FINAL_STATUSES:
            raise ValueError(f"status must be one of {sorted(FINAL_STATUSES)}, got {status!r}")
        with self._lock:
            self._result = obj
            self._final_status = status

    def update_info(self, **info: Any) -> None:
        """Attach small facts for the UI (e.g. the total number of epochs)."""
        with self._lock:
            self._info.update(info)

    def info_value(self, key: str, default: Any = None) -> Any:
        """One fact of :meth:`update_info` (no snapshot of the history for it)."""
        with self._lock:
            return self._info.get(key, default)

    # ---- called by anyone ------------------------------------------------------------------
    def cancel(self) -> None:
        """Ask the job to stop; its function sees ``job.cancel_event`` set."""
        self.cancel_event.set()

    def give_up_slot(self, reason: str) -> None:
        """Cancel the job to free its slot for someone else; ``reason`` goes to
        ``info['cancel_reason']`` (its function may record it)."""
        self.update_info(cancel_reason=reason)
        self.preempted = True
        self.cancel()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    @property
    def status(self) -> str:
        with self._lock:
            return self._status

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished; True if it has."""
        return self._done.wait(timeout)

    def snapshot(self) -> JobSnapshot:
        with self._lock:
            return JobSnapshot(id=self.id, owner=self.owner, label=self.label,
                               status=self._status, history=list(self._history),
                               error=self._error, progress=self._progress,
                               message=self._message, started=self.started,
                               finished=self._finished, result=self._result,
                               info=dict(self._info))

    # ---- called by the registry ------------------------------------------------------------
    def _run(self, fn: Callable[["Job"], Any], on_exit: Callable[["Job"], None]) -> None:
        try:
            returned = fn(self)
            with self._lock:
                if self._result is None and returned is not None:
                    self._result = returned
                if self._final_status is not None:
                    self._status = self._final_status
                elif self.cancel_event.is_set():
                    self._status = "cancelled"
                else:
                    self._status = "done"
                if self._status == "done":
                    self._progress = 1.0
        except BaseException as exc:  # noqa: BLE001 - a worker must never die silently
            message = error_text(exc)
            log.error("job %s (%s) failed:\n%s", self.id, self.label, traceback.format_exc())
            with self._lock:
                self._status = "failed"
                self._error = message or type(exc).__name__
        finally:
            with self._lock:
                self._finished = time.time()
            self._done.set()
            on_exit(self)


class JobRegistry:
    """Process-wide set of background jobs, each visible only to its owner.

    Parameters
    ----------
    max_jobs : int
        How many jobs may run at once across all owners.
    grace_seconds : float
        An owner gone this long has its jobs cancelled and dropped.
    keep_finished : int
        Finished jobs kept per owner (older ones are dropped first).
    clock : callable
        Monotonic clock, replaceable in tests.
    takeover_after : float
        An owner not seen this long, with no browser connection open, is gone: a new job may
        take the slot of its running job.
    """

    def __init__(self, max_jobs: int = 2, grace_seconds: float = 600.0, *,
                 keep_finished: int = 3, clock: Callable[[], float] = time.monotonic,
                 takeover_after: float = 30.0) -> None:
        if max_jobs < 1:
            raise ValueError("max_jobs must be >= 1")
        self.max_jobs = int(max_jobs)
        self.grace_seconds = float(grace_seconds)
        self.keep_finished = int(keep_finished)
        self.takeover_after = float(takeover_after)
        self.presence = Presence(clock)
        self._clock = clock
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._reaper: threading.Thread | None = None

    # ---- public API ------------------------------------------------------------------------
    def start(self, owner: str, fn: Callable[[Job], Any], *, label: str = "job",
              info: dict | None = None) -> Job:
        """Run ``fn(job)`` in a daemon thread and return the job at once.

        When every slot is taken, the running job of a gone owner (the one gone longest) is
        cancelled (:meth:`Job.give_up_slot`) and its slot taken; the new job's
        ``info['took_slot']`` is then True.

        Raises
        ------
        ResourceError
            When ``max_jobs`` jobs of present owners are already running.
        """
        self.reap()
        self.presence.touch(owner)
        with self._lock:
            running = [j for j in self._jobs.values()
                       if j.status == "running" and not j.preempted]
            victim = self._slot_to_take(running, owner) if len(running) >= self.max_jobs \
                else None
            if len(running) >= self.max_jobs and victim is None:
                raise ResourceError(self._full_message(running, owner))
            if victim is not None:
                idle = self.presence.idle(victim.owner)
                victim.give_up_slot(f"its browser tab was closed {idle:.0f} s before another "
                                    "session needed the training slot")
                info = {**(info or {}), "took_slot": True}
            job = Job(owner, label, info)
            self._jobs[job.id] = job
            self._drop_old_finished(owner)
        if victim is not None:
            log.info("job %s (%s) gave its slot to %s: its owner is gone", victim.id,
                     victim.label, job.id)
        thread = threading.Thread(target=job._run, args=(fn, self._on_exit),
                                  name=f"mfx-job-{job.id}", daemon=True)
        job.thread = thread
        thread.start()
        self._ensure_reaper()
        return job

    def get(self, job_id: str | None, owner: str) -> Job | None:
        """The job with this id if ``owner`` owns it, else None (also marks the owner alive)."""
        self.touch(owner)
        if not job_id:
            return None
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    def list(self, owner: str) -> list[Job]:
        """The owner's jobs, oldest first."""
        self.touch(owner)
        with self._lock:
            return sorted((j for j in self._jobs.values() if j.owner == owner),
                          key=lambda j: j.started)

    def touch(self, owner: str, client: str | None = None) -> None:
        """Mark the owner as still present (call it on every poll), through the browser
        connection ``client`` when known (see :attr:`presence`)."""
        self.presence.touch(owner, client)

    def forget(self, job_id: str, owner: str) -> bool:
        """Drop a finished job of this owner (e.g. once its result was taken)."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job.owner != owner or job.status == "running":
                return False
            del self._jobs[job_id]
            return True

    def running_count(self) -> int:
        """Jobs holding a slot (a job giving its slot up no longer counts)."""
        with self._lock:
            return sum(j.status == "running" and not j.preempted for j in self._jobs.values())

    def reap(self, now: float | None = None) -> list[str]:
        """Forget gone owners: cancel and drop the jobs of owners gone for ``grace_seconds``,
        drop the finished jobs of owners gone for :data:`FINISHED_KEPT_S`; the dropped ids."""
        now = self._clock() if now is None else now
        presence = self.presence
        with self._lock:
            owners = set(presence.owners()) | {j.owner for j in self._jobs.values()}
        long_gone = {o for o in owners if presence.gone(o, self.grace_seconds, now)}
        gone = {o for o in owners if presence.gone(o, FINISHED_KEPT_S, now)}
        dropped = []
        with self._lock:
            for job_id, job in list(self._jobs.items()):
                if job.owner in long_gone or (job.owner in gone and job.status != "running"):
                    job.cancel()
                    del self._jobs[job_id]
                    dropped.append(job_id)
            holding = {j.owner for j in self._jobs.values()}
            # Under the lock (no job can start meanwhile), and only if still unseen: an owner
            # who came back since the look above keeps its presence (found by review).
            for o in gone - holding:
                presence.forget(o, unseen_for=FINISHED_KEPT_S)
        for job_id in dropped:
            log.info("dropped job %s: its owner is gone", job_id)
        return dropped

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel every job and wait for the threads (tests and clean exits)."""
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel()
        for job in jobs:
            job.wait(timeout)

    # ---- internals ---------------------------------------------------------------------------
    def _slot_to_take(self, running: list[Job], owner: str) -> Job | None:
        # caller holds the lock; the job of the owner gone longest, never the caller's own
        # A job whose training is over (scoring, saving: info['fitting'] False) ends soon and
        # cannot be stopped any more; taking its slot would run one job too many.
        gone = [j for j in running if j.owner != owner
                and self.presence.gone(j.owner, self.takeover_after)
                and j.info_value("fitting", True)]
        return max(gone, key=lambda j: self.presence.idle(j.owner), default=None)

    def _full_message(self, running: list[Job], owner: str) -> str:
        mine = sum(j.owner == owner for j in running)
        n = len(running)
        return (f"{n} training job{'s' if n != 1 else ''} {'are' if n != 1 else 'is'} already "
                f"running on this server{f' ({mine} of them yours)' if mine else ''}, the "
                f"limit is {self.max_jobs} (MFX_MAX_JOBS). Wait for one to finish or cancel "
                f"it, then start again (a run whose browser tab has been closed for "
                f"{self.takeover_after:.0f} s gives its slot to the next one who asks).")

    def _on_exit(self, job: Job) -> None:
        with self._lock:
            if job.id in self._jobs:
                self._drop_old_finished(job.owner)

    def _drop_old_finished(self, owner: str) -> None:
        # caller holds the lock
        finished = sorted((j for j in self._jobs.values()
                           if j.owner == owner and j.status != "running"),
                          key=lambda j: j.started)
        for job in finished[:max(0, len(finished) - self.keep_finished)]:
            del self._jobs[job.id]

    def _ensure_reaper(self) -> None:
        with self._lock:
            if self._reaper is not None and self._reaper.is_alive():
                return
            interval = min(max(min(self.grace_seconds, self.takeover_after) / 4, 0.05), 30.0)
            self._reaper = threading.Thread(target=self._reap_loop, args=(interval,),
                                            name="mfx-job-reaper", daemon=True)
            self._reaper.start()

    def _reap_loop(self, interval: float) -> None:
        while True:
            time.sleep(interval)
            try:
                self.reap()
            except Exception:  # pragma: no cover - keep the reaper alive whatever happens
                log.exception("job reaper failed")
            with self._lock:
                if not self._jobs:
                    self._reaper = None
                    return


def _env_int(name: str, default: int) -> int:
    try:
        return max(1, int(os.environ.get(name, default)))
    except ValueError:
        log.warning("%s=%r is not an integer; using %d", name, os.environ.get(name), default)
        return default


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        log.warning("%s=%r is not a number; using %s", name, os.environ.get(name), default)
        return default


#: The registry a server process shares (limits from MFX_MAX_JOBS, MFX_JOB_GRACE_S and
#: MFX_JOB_TAKEOVER_S).
REGISTRY = JobRegistry(max_jobs=_env_int("MFX_MAX_JOBS", 2),
                       grace_seconds=_env_float("MFX_JOB_GRACE_S", 600.0),
                       takeover_after=_env_float("MFX_JOB_TAKEOVER_S", 30.0))

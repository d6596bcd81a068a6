"""Where trials run: threads of this process, or the workers of a Dask cluster.

Both backends give the study's driver (:func:`mfcore.tune.run_study`) the same five calls —
``share`` the data, ``submit`` a trial, ``done`` / ``outcome`` of a submitted one, ``cancel`` one
not yet started — and a *channel* between the driver and the running trials:

- trial → driver: ``('start', number, where)`` when a trial starts and ``('epoch', number,
  epoch, value)`` after every epoch (``drain`` on the driver);
- driver → trial: a ``verdict`` after each epoch report (prune or go on), which the trial waits
  for before its next epoch, and ``cancel`` (every running trial stops and is dropped).

Pruning is decided by the driver, which alone holds the Optuna study (in memory; no database
shared with the workers): a worker's per-epoch figures reach it through one
``distributed.Queue``, and the verdict comes back on a queue of the trial's own, so a pruned
trial stops right after the epoch that condemned it, wherever it runs. A cancel is a
``distributed.Event`` that a watcher thread beside the training polls every 0.25 s and turns
into the model's cancel event (it stops mid-epoch). The same shape in one process uses
``queue.Queue`` and ``threading.Event`` objects.

On a cluster, the data is scattered to every worker once (``broadcast=True``); trials receive a
reference. A trial whose worker dies is re-run by Dask on another worker; each trial marks its
start on the scheduler (an Event), so the second start raises :class:`TrialLost` at once and the
driver records the trial as failed while the study goes on. ``distributed`` is imported only when
a cluster is used.
"""
from __future__ import annotations

import importlib.util
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from ..errors import ConfigError, MFError
from .trial import TrialData, TrialOutcome, run_trial

__all__ = ["ENV_VAR", "TrialLost", "LocalChannel", "DaskChannel", "ThreadBackend",
           "DaskBackend", "default_cluster", "make_backend"]

#: The scheduler address used when none is given (``tcp://host:8786``; empty: local threads).
ENV_VAR = "MFX_DASK_SCHEDULER"
_POLL_S = 0.25
#: Pause of the driver's loop when no trial has anything to say.
_IDLE_S = 0.02
#: Longest a trial waits for the driver's pruning verdict after an epoch.
VERDICT_WAIT_S = 10.0


class TrialLost(MFError):
    """A trial's worker died while it ran (Dask then tried to run it again)."""


def default_cluster() -> str | None:
    """The scheduler address of ``$MFX_DASK_SCHEDULER``, or None (local threads)."""
    return os.environ.get(ENV_VAR, "").strip() or None


# ---- channels ---------------------------------------------------------------------------------
class LocalChannel:
    """Driver ↔ trials of this process."""

    def __init__(self) -> None:
        self._q: queue.Queue = queue.Queue()
        self._trials: dict[int, tuple] = {}
        self._cancel = threading.Event()
        self._lock = threading.Lock()

    def begin(self, number: int):
        stop, verdicts = threading.Event(), queue.Queue()
        with self._lock:
            self._trials[number] = (stop, verdicts)
            if self._cancel.is_set():
                stop.set()
        where = f"thread:{threading.current_thread().name}"
        self._q.put(("start", number, where))
        return stop, self._cancel.is_set, where

    def report(self, number: int, epoch: int, value: float) -> bool:
        stop, verdicts = self._trials[number]
        self._q.put(("epoch", number, epoch, value))
        return _await_verdict(lambda t: verdicts.get(timeout=t), stop, queue.Empty)

    def end(self, number: int) -> None:
        with self._lock:
            self._trials.pop(number, None)

    def drain(self, timeout: float) -> list:
        try:
            out = [self._q.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                out.append(self._q.get_nowait())
            except queue.Empty:
                return out

    def verdict(self, number: int, prune: bool) -> None:
        with self._lock:
            found = self._trials.get(number)
        if found is not None:
            found[1].put(prune)

    def cancel(self) -> None:
        with self._lock:
            self._cancel.set()
            for stop, _ in self._trials.values():
                stop.set()


def _await_verdict(get, stop: threading.Event, empty: type) -> bool:
    """The driver's answer to a trial's epoch report: prune it or not. A driver that does not
    answer within :data:`VERDICT_WAIT_S` (busy, or gone) lets the trial go on."""
    end = time.monotonic() + VERDICT_WAIT_S
    while not stop.is_set() and time.monotonic() < end:
        try:
            return bool(get(_POLL_S))
        except (empty, TimeoutError):
            continue
    return False


def _next(q, timeout: float):
    """The next item of a ``distributed.Queue``, polled (a timed-out ``get`` is logged as an
    error by the scheduler); TimeoutError when none came within ``timeout`` s."""
    end = time.monotonic() + timeout
    while True:
        items = q.get(batch=True)
        if items:
            return items[0]
        if time.monotonic() >= end:
            raise TimeoutError
        time.sleep(_IDLE_S / 4)


class DaskChannel:
    """Driver ↔ trials on Dask workers, through the scheduler (pickled as its name only)."""

    def __init__(self, name: str, client=None) -> None:
        self.name, self._client = name, client
        self._reports = None
        self._watches: dict[int, tuple] = {}

    def __getstate__(self) -> dict:
        return {"name": self.name}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["name"])

    def _event(self, suffix: str):
        from distributed import Event
        return Event(f"{self.name}-{suffix}", client=self._client)

    def _queue(self, suffix: str):
        from distributed import Queue
        return Queue(f"{self.name}-{suffix}", client=self._client)

    def _report_queue(self):
        if self._reports is None:
            self._reports = self._queue("reports")
        return self._reports

    # ---- worker side
    def begin(self, number: int):
        from distributed import get_worker

        where = get_worker().address
        started = self._event(f"started-{number}")
        if started.is_set():
            raise TrialLost(f"trial {number + 1}: its worker died while it ran")
        started.set()
        self._report_queue().put(("start", number, where))
        stop, done, state = threading.Event(), threading.Event(), {"cancelled": False}
        cancel = self._event("cancel")

        def watch() -> None:  # a cancel reaches the trial within _POLL_S, even mid-epoch
            while not done.is_set():
                try:
                    if cancel.is_set():
                        state["cancelled"] = True
                        stop.set()
                        return
                except Exception:  # the scheduler went away: the task is lost anyway
                    return
                done.wait(_POLL_S)

        self._watches[number] = (done, stop, self._queue(f"verdict-{number}"))
        threading.Thread(target=watch, name=f"mfx-watch-{number}", daemon=True).start()
        return stop, lambda: state["cancelled"], where

    def report(self, number: int, epoch: int, value: float) -> bool:
        _, stop, verdicts = self._watches[number]
        self._report_queue().put(("epoch", number, epoch, value))
        return _await_verdict(lambda t: _next(verdicts, t), stop, TimeoutError)

    def end(self, number: int) -> None:
        found = self._watches.pop(number, None)
        if found is not None:
            found[0].set()

    # ---- driver side
    def drain(self, timeout: float) -> list:
        out = list(self._report_queue().get(batch=True))
        if not out:
            time.sleep(min(timeout, _IDLE_S))
        return out

    def verdict(self, number: int, prune: bool) -> None:
        self._queue(f"verdict-{number}").put(prune)

    def cancel(self) -> None:
        self._event("cancel").set()


# ---- backends ---------------------------------------------------------------------------------
class FutureHandles:
    """What both backends do with a trial's handle, a ``concurrent.futures`` or Dask future."""

    @staticmethod
    def done(handle) -> bool:
        return handle.done()

    @staticmethod
    def outcome(handle) -> TrialOutcome:
        return handle.result()

    @staticmethod
    def cancel(handle) -> None:
        handle.cancel()


class ThreadBackend(FutureHandles):
    """Trials in ``jobs`` threads of this process (numba kernels release the GIL)."""

    def __init__(self, jobs: int = 1) -> None:
        self.jobs = max(1, int(jobs))
        self.channel = LocalChannel()
        self._pool = ThreadPoolExecutor(self.jobs, thread_name_prefix="mfx-trial")

    def describe(self) -> dict:
        return {"kind": "threads", "slots": self.jobs}

    def share(self, data: TrialData) -> TrialData:
        return data

    def slots(self) -> int:
        return self.jobs

    def submit(self, data, number: int, params: dict):
        return self._pool.submit(run_trial, data, number, params, self.channel)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskBackend(FutureHandles):
    """Trials on a Dask cluster: ``tcp://host:8786``, or ``local:N`` for N local worker
    processes on 127.0.0.1 (one thread each)."""

    def __init__(self, address: str, name: str, *, connect_timeout: float = 10.0,
                 wait_workers: float = 30.0) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:  # pragma: no cover - distributed is in requirements.txt
            raise ConfigError("trials on a cluster need the 'distributed' package "
                              "(pip install 'dask[distributed]')") from None
        self.address, self._cluster = address, None
        try:
            if address.startswith("local:"):
                self._cluster = LocalCluster(
                    n_workers=int(address.split(":", 1)[1]), processes=True,
                    threads_per_worker=1, host="127.0.0.1", dashboard_address=None)
                self.client = Client(self._cluster)
            else:
                self.client = Client(address, timeout=f"{connect_timeout}s")
            self.client.wait_for_workers(1, timeout=wait_workers)
        except (OSError, TimeoutError, ValueError) as exc:
            self.close()
            raise ConfigError(f"--cluster {address}: cannot use the Dask scheduler there "
                              f"({type(exc).__name__}: {exc})") from None
        self._check_workers()
        self.channel = DaskChannel(name, self.client)
        self._slots, self._slots_at = 0, 0.0

    def _check_workers(self) -> None:
        found = self.client.run(importlib.util.find_spec, "mfcore")
        missing = [w for w, spec in found.items() if spec is None]
        if missing:
            self.close()
            raise ConfigError(f"--cluster {self.address}: worker(s) {', '.join(missing)} cannot "
                              "import mfcore; start them with PYTHONPATH set to the project "
                              "folder (see the README, 'Tuning on a cluster')")

    def describe(self) -> dict:
        return {"kind": "dask", "scheduler": self.client.scheduler.address,
                "workers": len(self.client.nthreads()), "slots": self.slots()}

    def share(self, data: TrialData, timeout: float = 30.0):
        future = self.client.scatter(data, broadcast=True, hash=False)
        # The broadcast copies reach most workers from a peer after scatter returns; a trial
        # submitted meanwhile makes its worker fetch the data once more (two loads, twice the
        # memory for a moment). Trials go out once every worker holds it (or after timeout).
        workers = set(self.client.nthreads())
        deadline = time.monotonic() + timeout
        while (set(self.client.who_has(future).get(future.key, ())) < workers
               and time.monotonic() < deadline):
            time.sleep(0.05)
        return future

    def slots(self) -> int:
        if time.monotonic() - self._slots_at > 1.0:
            self._slots = sum(self.client.nthreads().values())
            self._slots_at = time.monotonic()
        return self._slots

    def submit(self, data, number: int, params: dict):
        return self.client.submit(run_trial, data, number, params, self.channel, pure=False,
                                  key=f"{self.channel.name}-trial-{number}")

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close()
        if self._cluster is not None:
            self._cluster.close()


def make_backend(cluster: str | None, *, jobs: int, name: str):
    """A :class:`DaskBackend` on ``cluster`` when one is given, else a :class:`ThreadBackend`."""
    if cluster:
        return DaskBackend(cluster, name)
    return ThreadBackend(jobs)

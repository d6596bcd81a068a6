"""One trial, wherever it runs: train, report each epoch, obey a stop, score.

:func:`run_trial` is the function a local thread or a Dask worker runs. It reads the study's
data from a :class:`TrialData` (shipped to a worker once, not once per trial), reports the
objective's per-epoch figure through its channel (:mod:`mfcore.tune.backends`) and waits for
the driver's pruning verdict before the next epoch; it stops right away when pruned, and within a
fraction of a second when the whole study is cancelled. It returns a :class:`TrialOutcome`
(the :class:`~mfcore.runs.RunRecord` and where it ran); the driver records it.
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import MFError
from ..prepare import Prepared
from ..runs import RunRecord, failed_run, score_run
from ..values import finite
from .objective import Objective

__all__ = ["TrialData", "TrialOutcome", "run_trial", "data_loads"]

#: How many times this process unpickled each study's data (by data key): once per worker.
_LOADS: collections.Counter = collections.Counter()
_LOADS_LOCK = threading.Lock()


def data_loads(key: str) -> int:
    """How many times this process received the data of the study ``key`` (0 if never)."""
    with _LOADS_LOCK:
        return _LOADS[key]


class TrialData:
    """What every trial of a study reads: the prepared data and how trials are scored.

    Parameters
    ----------
    prepared : Prepared
    objective : Objective
    key : str
        The study's id (counts the times a process received this data).
    ranking : dict
        ``definition``, ``direction``, ``sample`` for :func:`mfcore.runs.score_run`.
    keep_models : bool
        Send each trained model back with its outcome (to save it beside the run store).
    """

    def __init__(self, prepared: Prepared, *, objective: Objective, key: str,
                 ranking: dict | None = None, keep_models: bool = False) -> None:
        self.prepared, self.objective, self.key = prepared, objective, key
        self.ranking, self.keep_models = dict(ranking or {}), keep_models

    def __getstate__(self) -> dict:
        return dict(self.__dict__)

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        with _LOADS_LOCK:
            _LOADS[self.key] += 1


@dataclass
class TrialOutcome:
    """What a trial sends back.

    ``status`` is the run's ('fitted', 'early_stopped', 'diverged', 'failed'), 'pruned' when the
    driver stopped it, or 'cancelled' when the study was cancelled during it (then ``record`` is
    None and the trial is dropped).
    """

    number: int
    status: str
    record: RunRecord | None
    seconds: float
    worker: str
    data_loads: int = 0
    intermediate: dict = field(default_factory=dict)
    model: Any = None


def run_trial(data: TrialData, number: int, params: dict, channel) -> TrialOutcome:
    """Train and score one trial of ``data``'s study with the MFModel keywords ``params``.

    ``channel`` is the study's (:class:`~mfcore.tune.backends.LocalChannel` or
    :class:`~mfcore.tune.backends.DaskChannel`): ``channel.begin(number)`` announces the trial
    and returns its stop event, a ``cancelled()`` test and where it runs; ``channel.report(
    number, epoch, value)`` sends each epoch's figure and returns the driver's verdict (True:
    pruned); ``channel.end(number)`` closes the watch.
    """
    from ..train import MFModel

    t0 = time.perf_counter()
    stop, cancelled, where = channel.begin(number)
    spec: Objective = data.objective
    p = data.prepared
    inter: dict = {}
    pruned = threading.Event()

    def on_epoch(stats) -> None:
        value = finite(getattr(stats, spec.epoch_field))
        if value is not None:
            inter[int(stats.epoch)] = value
            if channel.report(number, int(stats.epoch), value):
                pruned.set()
                stop.set()  # the training loop stops at the end of this epoch

    model = None
    try:
        model = MFModel(**params)
        model.fit(p.train, p.val, callback=on_epoch, cancel=stop)
        if cancelled():
            return TrialOutcome(number, "cancelled", None, time.perf_counter() - t0, where)
        if pruned.is_set():  # no ranking pass: the trial's value is its last report
            record = score_run(model, p, fit_seconds=time.perf_counter() - t0)
            record.status = "pruned"
        else:
            record = score_run(model, p, k=spec.k, fit_seconds=time.perf_counter() - t0,
                               cancel=stop, **data.ranking)
            if cancelled():
                return TrialOutcome(number, "cancelled", None, time.perf_counter() - t0, where)
    except MFError as exc:
        record = (failed_run(model, p, str(exc)) if model is not None else
                  RunRecord(status="failed", params=dict(params), extra={"error": str(exc)}))
    finally:
        channel.end(number)
    return TrialOutcome(number, record.status, record, time.perf_counter() - t0, where,
                        data_loads=data_loads(data.key), intermediate=inter,
                        model=model if data.keep_models and record.status != "failed" else None)

"""One training run, scored one way: :func:`score_run` and the :class:`RunRecord` it builds.

The command line's ``train``, every sweep trial and the dashboard's Train page score a fitted
model with :func:`score_run`, so the same model on the same :class:`~mfcore.prepare.Prepared`
data gives the same record wherever it was trained: the record the run store saves
(:meth:`mfcore.runstore.RunHistory.record`) and ``python -m mfcore train --json`` prints.
The command line's ``train`` and the Train page's job go one step further and share the whole
run, fit → score → save → record: :func:`fit_and_record`.

Accuracy is :func:`mfcore.evaluate.accuracy.score_predictions` on the training rows and on the
validation rows (cold users and items predicted without their untrained parameters); ranking at
``k`` is :func:`mfcore.evaluate.ranking.evaluate_ranking`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .prepare import Prepared
from .values import finite, jsonable

__all__ = ["RunRecord", "RecordedRun", "fit_and_record", "score_run", "failed_run",
           "accuracy_metrics", "ranking_metrics"]


@dataclass
class RunRecord:
    """What one training run reports.

    Attributes
    ----------
    status : str
        The model's: 'fitted', 'early_stopped', 'diverged', 'cancelled'; 'failed' when training
        raised (with ``extra['error']``).
    params : dict
        Every hyperparameter, as used.
    data : dict
        :meth:`Prepared.summary`: sizes, values, ``fingerprint`` (the data as loaded) and the
        ``prepare`` options.
    split, split_info
        The split's kind and :attr:`mfcore.split.Split.info`.
    n_users, n_items, n_train, n_val : int
    history : list of dict
        Per-epoch :class:`~mfcore.train.EpochStats` as dicts.
    best_epoch : int or None
        The epoch with the lowest validation RMSE (the one kept by early stopping).
    diverged_at : dict or None
        ``{'epoch', 'step'}`` of a diverged run.
    fit_seconds : float or None
    threads : int or None
        Threads training used.
    train_rmse, train_mae, val_rmse, val_mae : float or None
        None where there are no rows to score (or training failed).
    k, precision_at_k, recall_at_k, ndcg_at_k
        Ranking at ``k``; None when not measured.
    extra : dict
        Anything else reported (ranking definition, direction, coverage, ``eval_seconds``;
        a sweep's ``trial`` and ``seconds``; ``error``; the command line's ``load_seconds``).
    """

    status: str
    params: dict = field(default_factory=dict)
    data: dict = field(default_factory=dict)
    split: str | None = None
    split_info: dict = field(default_factory=dict)
    n_users: int | None = None
    n_items: int | None = None
    n_train: int | None = None
    n_val: int = 0
    history: list = field(default_factory=list)
    best_epoch: int | None = None
    diverged_at: dict | None = None
    fit_seconds: float | None = None
    threads: int | None = None
    train_rmse: float | None = None
    train_mae: float | None = None
    val_rmse: float | None = None
    val_mae: float | None = None
    k: int | None = None
    precision_at_k: float | None = None
    recall_at_k: float | None = None
    ndcg_at_k: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def epochs_run(self) -> int:
        return len(self.history)

    def to_dict(self) -> dict:
        """One flat JSON-ready dict (``extra`` merged in, ``epochs_run`` added)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
               if f.name != "extra"}
        out["epochs_run"] = self.epochs_run
        return jsonable({**out, **self.extra})


def score_run(model, prepared: Prepared, *, k: int | None = None, definition: str = "heldout",
              direction: str = "users", sample: int | None = None,
              fit_seconds: float | None = None, cancel=None, extra: dict | None = None
              ) -> RunRecord:
    """Score a fitted model on the split it was trained on and build its run record.

    Parameters
    ----------
    model : MFModel
        Fitted on ``prepared.train`` (any final status).
    prepared : Prepared
    k : int, optional
        Also measure precision/recall/NDCG at ``k`` (:func:`ranking_metrics`).
    definition, direction, sample
        For the ranking; see :func:`mfcore.evaluate.ranking.evaluate_ranking`.
    fit_seconds : float, optional
        Training time as the caller measured it; default the sum of the epochs' seconds.
    cancel : threading.Event, optional
        Passed to the ranking; a caller that sets it should drop the record.
    extra : dict, optional
        Added to :attr:`RunRecord.extra`.

    Returns
    -------
    RunRecord

    Raises
    ------
    ConfigError
        ``k`` with the held-out definition but no validation rows.
    """
    record = _base_record(model, prepared)
    if fit_seconds is None:
        fit_seconds = sum(h["seconds"] for h in record.history)
    record.fit_seconds = float(fit_seconds)
    record.threads = getattr(model, "threads_used_", None)
    acc = accuracy_metrics(model, prepared.train, prepared.val)
    for name in ("train_rmse", "train_mae", "val_rmse", "val_mae"):
        setattr(record, name, acc[name])
    if k:
        ranking = ranking_metrics(model, prepared, k=k, definition=definition,
                                  direction=direction, sample=sample, cancel=cancel)
        for name in ("k", "precision_at_k", "recall_at_k", "ndcg_at_k"):
            setattr(record, name, ranking.pop(name))
        record.extra.update(ranking)
    record.extra.update(extra or {})
    return record


@dataclass
class RecordedRun:
    """What :func:`fit_and_record` did.

    Attributes
    ----------
    record : RunRecord or None
        The scored run; None when it was cancelled before its first epoch (nothing to record),
        or when scoring failed with ``strict=False``.
    run_id : int or None
        Its id in the run history (None: no history given, nothing recorded, or it failed).
    model_path : str or None
        Where the fitted model was saved.
    pruned : list of int
        Older runs whose model files the keep-models policy deleted (``keep_models``).
    error : Exception or None
        With ``strict=False``: why the run was not scored, saved or recorded (the fitted model
        itself is fine).
    """

    record: RunRecord | None
    run_id: int | None = None
    model_path: str | None = None
    pruned: list = field(default_factory=list)
    error: Exception | None = None


def fit_and_record(model, prepared: Prepared, *, history=None, source: str = "cli",
                   model_path=None, save_model: bool = True, k: int | None = None,
                   definition: str = "heldout", direction: str = "users",
                   sample: int | None = None, callback=None, cancel=None,
                   extra: dict | None = None, strict: bool = True,
                   keep_models: int | None = None, on_fitted=None) -> RecordedRun:
    """Fit ``model`` on ``prepared``'s split, score it, save it and record the run.

    The one training run of ``python -m mfcore train`` and of the dashboard's Train page, so
    the two cannot drift: the same model and data give the same record.

    Parameters
    ----------
    model : MFModel
        Not fitted yet (``fit`` resets it anyway).
    prepared : Prepared
    history : RunHistory, optional
        Where to record the run (with ``source``); None records nothing.
    source : {'cli', 'app'}
    model_path : str or Path, optional
        Save the fitted model here (whatever its status).
    save_model : bool
        Without ``model_path``: keep the model in the history's model folder
        (:meth:`~mfcore.runstore.RunHistory.save_model`) when it finished at least one epoch.
    k, definition, direction, sample
        Also measure ranking at ``k`` (:func:`score_run`).
    callback, cancel
        Passed to ``model.fit``: called with each epoch's stats; a ``threading.Event`` that
        stops training. A run cancelled before its first epoch is neither scored nor recorded.
    extra : dict, optional
        Added to :attr:`RunRecord.extra`.
    on_fitted : callable, optional
        Called with no argument once ``fit`` has returned, before scoring and saving (the
        dashboard's job then no longer gives its slot up: its training is over).
    keep_models : int, optional
        After recording, apply the dashboard's keep-models policy to the history owner's
        Train-page runs: :meth:`~mfcore.runstore.RunHistory.prune_models` with this N
        (:mod:`mfcore.modelkeep`). None (the command line) deletes nothing.
    strict : bool
        When False, an error while scoring, saving, recording or pruning is returned in
        :attr:`RecordedRun.error` instead of raised (the dashboard keeps the model anyway).
        Errors of ``fit`` itself are always raised.

    Returns
    -------
    RecordedRun
    """
    t0 = time.perf_counter()
    model.fit(prepared.train, prepared.val, callback=callback, cancel=cancel)
    fit_seconds = time.perf_counter() - t0
    if on_fitted is not None:
        on_fitted()
    if not model.history_ and model.status_ == "cancelled":
        return RecordedRun(record=None)
    out = RecordedRun(record=None)
    kept_for_history = None
    try:
        out.record = score_run(model, prepared, k=k, definition=definition,
                               direction=direction, sample=sample, fit_seconds=fit_seconds,
                               cancel=cancel, extra=extra)
        if model_path is not None:
            from .modelio import save_model as write_model
            out.model_path = str(write_model(model, model_path, data=prepared.display))
        elif save_model and history is not None and model.history_:
            out.model_path = str(history.save_model(model, prepared.display))
            kept_for_history = out.model_path
        if history is not None:
            out.run_id = history.record(out.record, source=source, model_path=out.model_path)
            if keep_models is not None:
                out.pruned = history.prune_models(keep_models)
    except Exception as exc:
        if out.run_id is None and kept_for_history is not None:
            # Saved for a run that was not recorded: no row would ever point at it (or prune it).
            with contextlib.suppress(OSError):
                Path(kept_for_history).unlink()
            out.model_path = None
        if strict:
            raise
        out.error = exc
    return out


def failed_run(model, prepared: Prepared, error: str, *, extra: dict | None = None) -> RunRecord:
    """The record of a run whose training raised: status 'failed', the error, no metrics."""
    record = _base_record(model, prepared)
    record.status = "failed"
    record.extra.update(extra or {}, error=str(error))
    return record


def _base_record(model, prepared: Prepared) -> RunRecord:
    history = [h.to_dict() if hasattr(h, "to_dict") else dict(h)
               for h in (getattr(model, "history_", None) or [])]
    at = getattr(model, "diverged_at_", None)
    return RunRecord(
        status=str(getattr(model, "status_", "fitted")), params=dict(model.params),
        data=prepared.summary(), split=prepared.split.kind,
        split_info=dict(prepared.split.info), n_users=prepared.train.n_users,
        n_items=prepared.train.n_items, n_train=len(prepared.train),
        n_val=len(prepared.val) if prepared.val is not None else 0, history=history,
        best_epoch=getattr(model, "best_epoch_", None),
        diverged_at={"epoch": int(at[0]), "step": int(at[1])} if at else None)


def accuracy_metrics(model, train, val=None) -> dict:
    """``train_rmse``, ``train_mae``, ``val_rmse``, ``val_mae`` of a fitted model (None: absent).

    The training figures are the training loop's own, from the epoch whose parameters the model
    holds (the best one after early stopping): no second pass over the training rows (at 48M
    rows that pass cost 3–4 epochs' time). Validation rows of users or items absent from
    ``train`` are predicted without their untrained parameters
    (:func:`~mfcore.evaluate.accuracy.score_predictions`). ALS models score preferences, not
    values, so they have none of the four.
    """
    from .evaluate.accuracy import score_predictions

    out = dict.fromkeys(("train_rmse", "train_mae", "val_rmse", "val_mae"))
    if model.params.get("solver") == "als":
        return out
    kept = kept_epoch(model)
    if kept is not None:
        out.update(train_rmse=finite(kept.train_rmse), train_mae=finite(kept.train_mae))
    if val is not None and len(val):
        s = score_predictions(model, val, train=train)
        out.update(val_rmse=finite(s["rmse"]), val_mae=finite(s["mae"]))
    return out


def kept_epoch(model):
    """The :class:`EpochStats` of the epoch whose parameters ``model`` holds, or None.

    Early stopping restores the best epoch; a cancelled or diverged run keeps its last finished
    one.
    """
    history = getattr(model, "history_", None) or []
    if not history:
        return None
    best = getattr(model, "best_epoch_", None)
    if getattr(model, "status_", None) == "early_stopped" and best:
        return next((h for h in history if h.epoch == best), history[-1])
    return history[-1]


def ranking_metrics(model, prepared: Prepared, *, k: int, definition: str = "heldout",
                    direction: str = "users", sample: int | None = None, cancel=None) -> dict:
    """precision/recall/NDCG at ``k`` of ``model`` on ``prepared``'s split, as record fields.

    The held-out definition ranks for the validation rows; the favourites one takes each
    subject's most-played items of the whole (filtered) data as loaded (:attr:`Prepared.display`,
    so prepared with the loaded values kept).

    Returns
    -------
    dict
        ``k``, ``definition``, ``direction``, ``precision_at_k``, ``recall_at_k``, ``ndcg_at_k``,
        ``coverage``, ``n_evaluated``, ``n_skipped``, ``eval_seconds``, and with ``sample`` the
        95 % intervals ``precision_ci95`` and ``recall_ci95``.
    """
    from .evaluate.ranking import evaluate_ranking

    val = prepared.val
    if definition == "heldout" and (val is None or len(val) == 0):
        raise ConfigError("ranking with the held-out definition needs validation rows: use a "
                          "split with a validation fraction > 0, or the favourites definition")
    t0 = time.perf_counter()
    res = evaluate_ranking(model, prepared.train, val, k=int(k), definition=definition,
                           direction=direction, sample=sample, seed=0,
                           full_data=prepared.display, cancel=cancel)
    out: dict[str, Any] = {
        "k": int(k), "definition": definition, "direction": direction,
        "precision_at_k": finite(res.precision), "recall_at_k": finite(res.recall),
        "ndcg_at_k": finite(res.ndcg), "coverage": finite(res.coverage),
        "n_evaluated": res.n_evaluated, "n_skipped": res.n_skipped,
        "eval_seconds": time.perf_counter() - t0}
    for name in ("precision_ci95", "recall_ci95"):
        if getattr(res, name, None) is not None:
            out[name] = list(getattr(res, name))
    return out

"""The dashboard's keep-models policy: how many Train-page model files each session keeps.

Every Train-page run saves its fitted model beside the run history
(:meth:`mfcore.runstore.RunHistory.save_model`); on the full Million Song Dataset one file is
over 500 MB. So the dashboard keeps the model files of each session's last N runs (N from
``$MFX_KEEP_MODELS``, default :data:`DEFAULT_KEEP`; 0 keeps none automatically). When a newer
run of the same session is saved, that session's older files beyond N are deleted
(:meth:`~mfcore.runstore.RunHistory.prune_models`); their runs stay in the history with
``model_path`` cleared and ``model_state = 'pruned'`` ("not kept"). Runs pinned with "Keep this
model" (``model_state = 'pinned'``, :meth:`~mfcore.runstore.RunHistory.pin_models`) are neither
counted nor deleted; runs of the command line and of sweeps are never touched.

This module reads the setting, states the policy in words and measures the files on disk.
"""
from __future__ import annotations

import math
import os

import pandas as pd

from .values import human_bytes

__all__ = ["KEEP_ENV", "DEFAULT_KEEP", "keep_setting", "policy_text", "model_sizes",
           "model_labels", "human_bytes"]

KEEP_ENV = "MFX_KEEP_MODELS"
DEFAULT_KEEP = 3


def keep_setting(environ=None) -> tuple[int, str | None]:
    """N of the policy, and why the environment's value was not used (None when it was).

    Parameters
    ----------
    environ : mapping, optional
        Default ``os.environ``.

    Returns
    -------
    (int, str or None)
        ``$MFX_KEEP_MODELS`` as a whole number ≥ 0, else :data:`DEFAULT_KEEP` and a sentence
        naming the bad value and what was expected.
    """
    raw = (os.environ if environ is None else environ).get(KEEP_ENV, "").strip()
    if not raw:
        return DEFAULT_KEEP, None
    try:
        n = int(raw)
    except ValueError:
        n = -1
    if n < 0:
        return DEFAULT_KEEP, (f"{KEEP_ENV}={raw!r} is not a whole number ≥ 0; keeping the "
                              f"default {DEFAULT_KEEP}")
    return n, None


def policy_text(keep: int) -> str:
    """The policy in one paragraph, for the Train and Runs pages."""
    if keep == 0:
        kept = ("keeps no Train-page model file: each is deleted once its run is saved, so "
                "none can be pinned either")
    else:
        kept = (f"keeps the model files of each session's last {keep} Train-page "
                f"run{'s' if keep != 1 else ''}; when a newer run is saved, the session's older "
                "files are deleted")
    return (f"Model files: the dashboard {kept} (the runs stay in the history, marked "
            f"\"not kept\"). Runs pinned with \"Keep this model\" on the Runs page and runs of "
            f"the command line and of sweeps are never deleted. {KEEP_ENV} sets how many are "
            f"kept (now {keep}; 0 keeps none).")


def model_sizes(frame: pd.DataFrame) -> pd.Series:
    """Bytes on disk of each run's model file (``frame`` from ``list_runs``); NaN without one."""
    def size(path) -> float:
        if not isinstance(path, str) or not path:
            return math.nan
        try:
            return float(os.stat(path).st_size)
        except OSError:
            return math.nan
    return pd.Series([size(p) for p in frame["model_path"]], index=frame.index, dtype="float64")


def model_labels(frame: pd.DataFrame, sizes: pd.Series | None = None) -> pd.Series:
    """What became of each run's model, in words: its size (``'· pinned'`` when pinned),
    ``'not kept'`` (deleted by the policy), ``'file missing'`` or ``'none'`` (never saved)."""
    sizes = model_sizes(frame) if sizes is None else sizes
    states = frame["model_state"] if "model_state" in frame else [None] * len(frame)
    out = []
    for path, state, size in zip(frame["model_path"], states, sizes):
        if state == "pruned":
            out.append("not kept")
        elif not isinstance(path, str) or not path:
            out.append("none")
        elif math.isnan(size):
            out.append("file missing")
        else:
            out.append(human_bytes(size) + (" · pinned" if state == "pinned" else ""))
    return pd.Series(out, index=frame.index, dtype=object)

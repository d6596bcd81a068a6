"""The runs table: every setting of a run as a column, and what makes two runs comparable.

:meth:`mfcore.runstore.RunHistory.list_runs` gives one row per run with the stored columns;
:func:`expand_settings` adds every hyperparameter (:data:`PARAM_COLUMNS`) and every data
preparation option (:data:`PREP_COLUMNS`) from the run's stored JSON, and :func:`dataset_label`
names the data so that two datasets from the same source (``synthetic:msd`` of 20,000 and of
3,000 users) read differently. :func:`data_differences` says why overlaid runs do not share their
validation rows; :func:`owner_label` says who made a run; :func:`normalize_tags` is the one
reading of a run's tags.
"""
from __future__ import annotations

import json
import re
from typing import Iterable

import pandas as pd

from .errors import ConfigError
from .values import finite

__all__ = ["PARAM_COLUMNS", "PREP_COLUMNS", "MAX_NOTE", "MAX_TAG", "MAX_TAGS",
           "expand_settings", "dataset_label", "data_differences", "owner_label",
           "normalize_tags", "tag_list", "json_dict", "runs_to_csv_frame", "sweep_dataset"]

#: Every hyperparameter of a run, in the table's order (``factors``, ``epochs``, ``lr`` and
#: ``reg`` are stored columns of their own).
PARAM_COLUMNS = ("solver", "biased", "neg_ratio", "neg_sampling", "alpha", "confidence",
                 "cg_steps", "solve", "init_std", "seed", "threads", "early_stopping", "patience",
                 "monitor", "eval_k", "eval_sample")
#: Data preparation options of a run (:class:`mfcore.prepare.PrepOptions`; the split's kind is
#: the stored ``split`` column and its seed ``split_seed``).
PREP_COLUMNS = ("transform", "min_user", "min_item", "val_frac", "test_frac", "split_seed")
#: What :func:`data_differences` compares besides the dataset itself.
_PREPARATION = ("transform", "split", "val_frac", "test_frac", "split_seed", "min_user",
                "min_item")
MAX_NOTE = 2000
MAX_TAG = 40
MAX_TAGS = 20


def expand_settings(frame: pd.DataFrame, params_json: Iterable, data_json: Iterable
                    ) -> pd.DataFrame:
    """``frame`` with :data:`PARAM_COLUMNS`, :data:`PREP_COLUMNS` and ``data`` (the
    :func:`dataset_label`) added from each row's stored params and data JSON (None where a run
    did not record one, e.g. ``alpha`` of an SGD run)."""
    params = [json_dict(p) for p in params_json]
    prep = [json_dict(d).get("prepare") or {} for d in data_json]
    out = frame.copy()
    for name in PARAM_COLUMNS:
        out[name] = pd.Series([p.get(name) for p in params], index=out.index, dtype=object)
    for name in PREP_COLUMNS:
        key = "seed" if name == "split_seed" else name
        out[name] = pd.Series([p.get(key) for p in prep], index=out.index, dtype=object)
    out["data"] = [dataset_label(r) for _, r in out.iterrows()] if len(out) else []
    return out


def dataset_label(row) -> str:
    """The data of a run in a few words: source, sizes and the fingerprint's first 8 digits."""
    def count(name: str) -> str:
        v = row.get(name)
        return "?" if v is None or pd.isna(v) else f"{int(v):,}"
    fp = row.get("fingerprint")
    fp = f", #{str(fp)[:8]}" if isinstance(fp, str) and fp else ""
    return (f"{row.get('dataset') or 'unknown data'} ({count('n_users')} users × "
            f"{count('n_items')} items, {count('n_interactions')} rows{fp})")


def data_differences(frame: pd.DataFrame) -> list[str]:
    """Why the runs of ``frame`` were not trained and validated on the same rows (empty when
    they were): different datasets, or the same dataset prepared differently."""
    if len(frame) < 2:
        return []
    out = []
    fps = frame["fingerprint"].fillna("?")
    if fps.nunique() > 1:
        out.append("different datasets: " + "; ".join(
            f"{g['data'].iloc[0]} ({_runs(g['id'])})"
            for _, g in frame.groupby(fps, sort=False)))
    for name in _PREPARATION:
        if name not in frame:
            continue
        values = frame[name].map(_shown)
        if values.nunique(dropna=False) > 1:
            out.append(f"{name.replace('_', ' ')}: " + ", ".join(
                f"{v} ({_runs(ids)})" for v, ids in frame.groupby(values, sort=False)["id"]))
    return out


def owner_label(owner, me: str | None = None) -> str:
    """Who made a run, as people read it: 'you', 'command line (name)', 'another session'."""
    if owner is None or (not isinstance(owner, str)) or not owner:
        return "not recorded"
    if me is not None and owner == me:
        return "you"
    kind, _, name = owner.partition(":")
    if kind == "user":
        return f"command line ({name})"
    if kind == "session":
        return "another browser session"
    return owner


def normalize_tags(tags) -> str | None:
    """Tags as stored: comma-separated, trimmed, without repeats (None when there are none).

    ``tags`` is a string ("a, b") or a sequence of strings.

    Raises
    ------
    ConfigError
        A tag longer than :data:`MAX_TAG` characters, or more than :data:`MAX_TAGS` tags.
    """
    if tags is None:
        return None
    parts = tags.split(",") if isinstance(tags, str) else [str(t) for t in tags]
    kept: list[str] = []
    for part in parts:
        tag = re.sub(r"\s+", " ", part).strip()
        if not tag or tag in kept:
            continue
        if len(tag) > MAX_TAG:
            raise ConfigError(f"tag {tag[:20]!r}… is longer than {MAX_TAG} characters")
        kept.append(tag)
    if len(kept) > MAX_TAGS:
        raise ConfigError(f"{len(kept)} tags is more than the {MAX_TAGS} a run may have")
    return ", ".join(kept) or None


def tag_list(stored) -> list[str]:
    """A stored tags value as a list (empty for None/NaN)."""
    return [t for t in str(stored).split(", ") if t] if isinstance(stored, str) else []


def json_dict(text) -> dict:
    """A stored JSON object, or {} when it is missing or damaged."""
    try:
        out = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def sweep_dataset(config_json) -> str | None:
    """A sweep's dataset as people named it: the dashboard's label, else the data's source."""
    data = json_dict(config_json).get("data")
    if not isinstance(data, dict):
        return None
    name = data.get("label") or data.get("source")
    return str(name) if name else None


def sweep_best_value(summary_json) -> float | None:
    """The best trial's objective value in a sweep's stored summary (None when absent)."""
    best = json_dict(summary_json).get("best")
    return finite(best.get("value")) if isinstance(best, dict) else None


def runs_to_csv_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The runs table ready for CSV (ISO timestamps)."""
    out = frame.copy()
    if "created" in out:
        out["created"] = pd.to_datetime(out["created"]).dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def _shown(v) -> str:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return "not recorded"
    return f"{v:g}" if isinstance(v, float) else str(v)


def _runs(ids) -> str:
    ids = list(ids)
    return f"run{'s' if len(ids) > 1 else ''} " + ", ".join(f"#{int(i)}" for i in ids)

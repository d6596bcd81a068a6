"""The Train page's hyperparameters in the session (``st.session_state.hp``).

The defaults are the engine's own (:mod:`mfcore.train.presets`), so the dashboard and the
command line train the same default model; a value the user set is kept when the data or the
solver changes, a value still at its default follows the new defaults, and the page says which
moved (:func:`align_hp_with_data`).

Every change made by code goes through :func:`set_hp`, which writes the widget's own state too:
a number field's identity is its key alone, so deleting the key (the old way) left the browser
showing, and sending back, the value it had.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from mfcore.train import presets

#: Hyperparameters of the Train page, with their defaults for ratings (MFModel keywords).
HP_DEFAULTS: dict[str, Any] = presets.form_defaults("ratings")
_INTS = ("factors", "epochs", "seed", "threads", "patience", "cg_steps", "eval_k", "eval_sample")
_FLOATS = ("lr", "reg", "init_std", "neg_ratio", "alpha")
#: The names the pages and notices use for the hyperparameters.
HP_LABELS = {"solver": "solver", "factors": "k", "epochs": "epochs", "lr": "γ", "reg": "λ",
             "init_std": "init std", "biased": "biased", "neg_ratio": "ρ", "alpha": "α",
             "confidence": "g(value)", "cg_steps": "CG steps", "monitor": "watched figure",
             "early_stopping": "early stopping", "patience": "patience", "seed": "seed",
             "threads": "threads", "eval_k": "ranking k", "eval_sample": "users ranked"}
#: What each kind of data is called on the pages.
KIND_TEXT = {"ratings": "ratings", "counts": "play counts", "binary": "playlists (presence only)"}


def hp_defaults(kind: str, solver: str | None = None) -> dict[str, Any]:
    """The Train page's defaults for this kind of data ('ratings', 'counts' or 'binary') and
    solver (the kind's own unless given); every field has a value."""
    return presets.form_defaults(kind, solver)


def _typed(name: str, value: Any) -> Any:
    if name in _INTS:
        return int(value)
    if name in _FLOATS:
        return float(value)
    return value


def model_kwargs(hp: dict | None = None) -> dict:
    """The session's hyperparameters (``ss.hp`` over the defaults) as typed MFModel keywords;
    the fields the chosen solver does not read are None."""
    hp = {**HP_DEFAULTS, **(st.session_state.get("hp", {}) if hp is None else hp)}
    return presets.for_solver({k: _typed(k, hp[k]) for k in HP_DEFAULTS})


def set_hp(values: dict[str, Any]) -> None:
    """Set hyperparameters in the session *and* in their widgets.

    Call it before the widgets are drawn in this run (from a callback, or before the page).
    Writing the widget's key makes Streamlit send the value to the browser, which then shows it.
    """
    ss = st.session_state
    hp = ss.setdefault("hp", dict(HP_DEFAULTS))
    for name, value in values.items():
        hp[name] = _typed(name, value)
        ss[f"w_hp_{name}"] = hp[name]


def hp_value_text(name: str, value: Any) -> str:
    """One setting as the notices and the run card say it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if name == "solver":
        return {"als": "ALS", "sgd": "SGD"}.get(value, str(value))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def follow_defaults(before: dict, after: dict) -> list[tuple[str, Any, Any]]:
    """Move every setting still at its ``before`` default to its ``after`` default (a value the
    user changed is kept); the moves as ``(name, old, new)``."""
    hp = st.session_state.hp
    moved = [(name, before.get(name), value) for name, value in after.items()
             if hp.get(name, before.get(name)) == before.get(name)
             and value != before.get(name)]
    set_hp({name: new for name, _, new in moved})
    return moved


def solver_changed() -> None:
    """The Train page's solver was switched: untouched settings follow the new solver."""
    ss = st.session_state
    kind = ss.prepared.train.kind
    old = ss.hp.get("solver", hp_defaults(kind)["solver"])
    new = ss["w_hp_solver"]
    follow_defaults(hp_defaults(kind, old), hp_defaults(kind, new))
    ss.hp["solver"] = new


def align_hp_with_data(kind: str) -> str | None:
    """When the data changes kind, move the untouched hyperparameters to the new kind's defaults.

    A value the user changed is kept; one still at the old kind's default follows the data.
    Returns what changed, in words (None when the kind is the same), for a notice.
    """
    ss = st.session_state
    old = ss.get("hp_kind", "ratings")
    if old == kind:
        return None
    before, after = hp_defaults(old), hp_defaults(kind)
    moved = follow_defaults(before, after)
    ss.hp_kind = kind
    if not moved:
        return None
    kept = [(name, ss.hp[name]) for name in after
            if ss.hp.get(name) != after[name] and name in HP_LABELS]
    text = (f"The data now hold **{KIND_TEXT[kind]}** (before: {KIND_TEXT[old]}), so the Train "
            "page's settings that were still at their defaults moved to this kind's defaults: "
            + ", ".join(f"{HP_LABELS.get(n, n)} {hp_value_text(n, a)} → {hp_value_text(n, b)}"
                        for n, a, b in moved if n in HP_LABELS) + ".")
    if kept:
        text += (" Kept as you set them: "
                 + ", ".join(f"{HP_LABELS[n]} {hp_value_text(n, v)}" for n, v in kept) + ".")
    return text

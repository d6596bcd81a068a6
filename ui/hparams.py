"""The Train page's hyperparameters in the session (``st.session_state.hp``).

The defaults are the engine's own (:mod:`mfcore.train.presets`), so the dashboard and the
command line train the same default model; a value the user set is kept when the data or the
solver changes, a value still at its default follows the new defaults.
"""
from __future__ import annotations

from typing import Any

import streamlit as st

from mfcore.train import presets

#: Hyperparameters of the Train page, with their defaults for ratings (MFModel keywords).
HP_DEFAULTS: dict[str, Any] = presets.form_defaults("ratings")
_INTS = ("factors", "epochs", "seed", "threads", "patience", "cg_steps", "eval_k", "eval_sample")
_FLOATS = ("lr", "reg", "init_std", "neg_ratio", "alpha")


def hp_defaults(kind: str, solver: str | None = None) -> dict[str, Any]:
    """The Train page's defaults for this kind of data ('ratings', 'counts' or 'binary') and
    solver (the kind's own unless given); every field has a value."""
    return presets.form_defaults(kind, solver)


def model_kwargs(hp: dict | None = None) -> dict:
    """The session's hyperparameters (``ss.hp`` over the defaults) as typed MFModel keywords;
    the fields the chosen solver does not read are None."""
    hp = {**HP_DEFAULTS, **(st.session_state.get("hp", {}) if hp is None else hp)}
    kw = {k: hp[k] for k in HP_DEFAULTS}
    for name in _INTS:
        kw[name] = int(kw[name])
    for name in _FLOATS:
        kw[name] = float(kw[name])
    return presets.for_solver(kw)


def follow_defaults(before: dict, after: dict) -> None:
    """Move every setting still at its ``before`` default to its ``after`` default (a value the
    user changed is kept)."""
    ss = st.session_state
    for name, value in after.items():
        if ss.hp.get(name, before.get(name)) == before.get(name) and value != before.get(name):
            ss.hp[name] = value
            ss.pop(f"w_hp_{name}", None)


def solver_changed() -> None:
    """The Train page's solver was switched: untouched settings follow the new solver."""
    ss = st.session_state
    kind = ss.prepared.train.kind
    old = ss.hp.get("solver", hp_defaults(kind)["solver"])
    new = ss["w_hp_solver"]
    follow_defaults(hp_defaults(kind, old), hp_defaults(kind, new))
    ss.hp["solver"] = new


def align_hp_with_data(kind: str) -> None:
    """When the data changes kind, move the untouched hyperparameters to the new kind's defaults.

    A value the user changed is kept; one still at the old kind's default follows the data.
    """
    ss = st.session_state
    old = ss.get("hp_kind", "ratings")
    if old == kind:
        return
    follow_defaults(hp_defaults(old), hp_defaults(kind))
    ss.hp_kind = kind

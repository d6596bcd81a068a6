"""The browser session: owner token, dataset, training job and current model.

Everything a session sees lives in ``st.session_state`` (its own dataset, job and model); the only
process-wide object is :data:`ui.jobs.REGISTRY`, whose jobs are owned by this session's token.
The token and the running job's id are mirrored in the URL (``?sid=…&job=…``) so a browser
refresh, which starts a new Streamlit session, reattaches to the same job.

app.py calls :func:`setup_session` once at the start of every run, before the page runs.
"""
from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import streamlit as st

from mfcore.interactions import Interactions
from mfcore.prepare import Prepared, prepare

from .hparams import HP_DEFAULTS, align_hp_with_data, hp_defaults, set_hp
from .jobs import REGISTRY, Job, JobSnapshot

log = logging.getLogger("mfx.ui")

_SID = re.compile(r"^[0-9a-f]{32}$")
_JOB = re.compile(r"^[0-9a-f]{16}$")

#: The built-in dataset: big enough to look like listening data, small enough to train in seconds.
#: Its listeners keep 1 in 30 of the songs popularity offers them, by taste, under a Zipf(0.3)
#: popularity: a long tail in which taste, not popularity alone, decides what gets played, so
#: a newcomer's first default model ranks at 2.2x popularity (P@10 0.073 against 0.034). With
#: the generator's defaults (1 in 3, Zipf 0.8) no model reached popularity's P@10 (seed 2 gives
#: exactly 3,000 users and 1,500 songs).
BUILTIN = dict(n_users=3000, n_items=1500, n_interactions=100_000, shape="msd", seed=2,
               popularity_exponent=0.3, selectivity=30)


@dataclass
class Bundle:
    """The session's current model and the data it was trained on."""

    model: Any
    prepared: Prepared
    label: str
    job_id: str | None
    status: str
    finished: float = field(default_factory=time.time)
    _derived: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @property
    def history(self) -> list:
        return list(self.model.history_)

    def derived(self, name: str, compute: Callable[[], Any]) -> Any:
        """A view derived from this model alone (e.g. the song map), computed once, not on
        every rerun of a page."""
        if name not in self._derived:
            self._derived[name] = compute()
        return self._derived[name]


# ---- once per run, from app.py ---------------------------------------------------------------------
def setup_session() -> None:
    """Owner token, defaults, the dataset, the job's result, the URL: app.py runs it before the
    page on every run (a first visit, a reload, a page switch, a poll that reruns the app)."""
    _warm_up_kernels()
    ss = st.session_state
    if "sid" not in ss:
        qp_sid = st.query_params.get("sid", "")
        ss.sid = qp_sid if _SID.match(qp_sid) else uuid.uuid4().hex
        qp_job = st.query_params.get("job", "")
        if _JOB.match(qp_job):
            ss.job_id = qp_job
            ss.reattach_dataset = True  # a reload: bring back the data the job trains on
    ss.setdefault("job_id", None)
    ss.setdefault("notices", [])
    REGISTRY.touch(ss.sid)
    if "prepared" not in ss:
        load_builtin_default()
    sync_job()
    ss.pop("reattach_dataset", None)
    sync_url()


_warm = threading.Event()


def _warm_up_kernels() -> None:
    """Load the numba kernels once per process, off the request path (about 0.8 s saved on the
    first Start, the first evaluation being faster too)."""
    if _warm.is_set():
        return
    _warm.set()

    def run() -> None:
        try:
            from mfcore.evaluate.ranking import evaluate_ranking
            from mfcore.load.synthetic import generate
            from mfcore.split import random_split
            from mfcore.train import MFModel
            sp = random_split(generate(60, 40, 600, seed=1), val_frac=0.2, seed=0)
            for solver in ("als", "sgd"):  # both solvers' kernels (and the ranking probe's)
                model = MFModel(factors=4, epochs=1, solver=solver).fit(sp.train, sp.val)
            evaluate_ranking(model, sp.train, sp.val, k=5)
        except Exception:  # only an optimisation
            log.debug("kernel warm-up failed", exc_info=True)

    threading.Thread(target=run, name="mfx-warm-up", daemon=True).start()


def owner() -> str:
    return st.session_state.sid


def sync_url() -> None:
    """Mirror the session token and running job id into the URL (for refresh/reattach)."""
    ss = st.session_state
    try:
        if st.query_params.get("sid") != ss.sid:
            st.query_params["sid"] = ss.sid
        job_id = ss.get("job_id")
        if job_id and st.query_params.get("job") != job_id:
            st.query_params["job"] = job_id
        elif not job_id and "job" in st.query_params:
            del st.query_params["job"]
    except Exception:  # the URL is a convenience; never fail a page for it
        log.debug("could not update query params", exc_info=True)


# ---- the dataset ----------------------------------------------------------------------------------
def builtin_dataset(**overrides: Any) -> Interactions:
    """The synthetic listening dataset every session starts with (``overrides`` of BUILTIN)."""
    from mfcore.load.synthetic import generate
    params = {**BUILTIN, **overrides}
    n_users, n_items, n = params.pop("n_users"), params.pop("n_items"), params.pop("n_interactions")
    return generate(n_users, n_items, n, **params)


@st.cache_resource(show_spinner=False)
def _builtin_prepared() -> tuple[Interactions, Prepared]:
    """The built-in dataset and its default preparation, shared read-only by all sessions."""
    raw = builtin_dataset()
    return raw, prepare(raw)


def load_builtin_default() -> None:
    raw, prepared = _builtin_prepared()
    ss = st.session_state
    if "hp" not in ss:  # a first visit: the form starts at this data's defaults, unannounced
        ss.hp = hp_defaults(prepared.train.kind)
        ss.hp_kind = prepared.train.kind
    set_dataset(raw, prepared, label=builtin_label(BUILTIN))


def builtin_label(params: dict) -> str:
    return (f"Built-in synthetic listening data ({params['shape']}, {params['n_users']:,} users, "
            f"{params['n_items']:,} songs, seed {params['seed']})")


def set_dataset(raw: Interactions, prepared: Prepared, *, label: str) -> None:
    """Make ``raw`` (with its preparation) the session's dataset; the model stays as it is.

    The Train page's settings follow the kind of data, and a notice says which moved.
    """
    ss = st.session_state
    ss.raw = raw
    ss.prepared = prepared
    ss.dataset_label = label
    ss.pop("eval_results", None)
    moved = align_hp_with_data(prepared.train.kind)
    if moved:
        notice(moved)


# ---- the training job ------------------------------------------------------------------------------
def current_job() -> Job | None:
    ss = st.session_state
    return REGISTRY.get(ss.get("job_id"), ss.sid)


def sync_job() -> JobSnapshot | None:
    """Adopt the result of the session's job once it has finished; the snapshot or None."""
    ss = st.session_state
    job_id = ss.get("job_id")
    if not job_id:
        return None
    job = REGISTRY.get(job_id, ss.sid)
    if job is None:
        ss.job_id = None
        if ss.get("last_run") is None or ss.last_run.id != job_id:
            notice("The training run this page was following is gone (the server restarted or "
                   "it was idle too long). Start a new one on the Train page.")
        return None
    snap = job.snapshot()
    if ss.get("reattach_dataset") and snap.info.get("context") is not None:
        # A reload: the form shows the running job's settings, without a notice.
        ss.hp_kind = snap.info["context"].train.kind
        set_hp({k: v for k, v in (snap.info.get("params") or {}).items()
                if v is not None and k in HP_DEFAULTS})
        set_dataset(snap.info.get("raw") or snap.info["context"].display, snap.info["context"],
                    label=snap.info.get("dataset_label") or snap.label)
    if snap.status != "running" and ss.get("adopted_job") != snap.id:
        adopt(snap)
    return snap


def adopt(snap: JobSnapshot) -> None:
    """Keep a finished run's snapshot; make its model current when it has usable epochs."""
    ss = st.session_state
    ss.adopted_job = snap.id
    ss.last_run = snap
    model = snap.result
    context: Prepared | None = snap.info.get("context")
    if snap.status in ("done", "cancelled") and model is not None and model.history_ \
            and context is not None:
        ss.bundle = Bundle(model=model, prepared=context, label=snap.label, job_id=snap.id,
                           status=model.status_, finished=snap.finished or time.time())
        ss.pop("eval_results", None)
        ss.pop("baseline_results", None)


# ---- notices ----------------------------------------------------------------------------------------
def notice(message: str) -> None:
    """A message for the top of the next page shown (e.g. after a callback)."""
    st.session_state.setdefault("notices", []).append(message)


def show_notices() -> None:
    for msg in st.session_state.get("notices", []):
        st.info(msg, icon=":material/info:")
    st.session_state.notices = []

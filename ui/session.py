"""The browser session: owner token, dataset, training job and current model.

Everything a session sees lives in ``st.session_state`` (its own dataset, job and model); the only
process-wide object is :data:`ui.jobs.REGISTRY`, whose jobs are owned by this session's token.
The token and the running job's id are mirrored in the URL (``?sid=…&job=…``) so a browser
refresh, which starts a new Streamlit session, reattaches to the same job.

app.py calls :func:`setup_session` once at the start of every run, before the page runs.
"""
from __future__ import annotations

import hashlib
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
from .loading import LoadJob, finished_load, load_banner
from .text import nouns

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
    REGISTRY.touch(ss.sid, client=_client_id())
    load = finished_load()
    if load is not None:
        adopt_load(load)
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


def run_owner(sid: str | None = None) -> str:
    """Who this session is in the run history: a hash of its token (the token itself would let
    anyone who reads the runs table act as this session)."""
    sid = sid or st.session_state.sid
    return "session:" + hashlib.sha256(sid.encode()).hexdigest()[:16]


def run_history():
    """The run history, recording runs as made by this session (:func:`run_owner`)."""
    from mfcore.runstore import RunHistory
    return RunHistory(owner=run_owner())


def _client_id() -> str | None:
    """This browser connection's id (Streamlit's session id), None outside a script run."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def _client_connected(client_id: str) -> bool | None:
    """Whether that browser connection is still open; None when the server cannot tell."""
    from streamlit import runtime
    if not runtime.exists():
        return None
    state = runtime.get_instance().is_active_session(client_id)
    return state if isinstance(state, bool) else None  # AppTest's runtime is a mock


REGISTRY.presence.connected = _client_connected


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
    # The prepared rows are the loaded rows rearranged when no filter removed any: keeping
    # those and not the loaded ones holds 48M rows once, not twice.
    ss.raw = prepared.display if prepared.unfiltered else raw
    ss.prepared = prepared
    ss.dataset_label = label
    ss.pop("eval_results", None)
    moved = align_hp_with_data(prepared.train.kind)
    if moved:
        notice(moved)


def adopt_load(job: LoadJob) -> None:
    """Make a finished background load the session's dataset, or say why it failed."""
    if job.error is not None or job.result is None:
        notice(f"Could not load {job.name}: {job.error or 'nothing was read'}. The dataset you "
               "had is still loaded.", kind="error")
        return
    raw, prepared = job.result
    d = prepared.display
    notice(f"Loaded {job.name}: {d.n_users:,} users, {d.n_items:,} {nouns(d.kind)['items']}, "
           f"{len(d):,} rows (in {time.time() - job.started:.1f} s). Every page now uses it.")
    job.adopt()  # set with the result: the form's settings fitted to the new data
    set_dataset(raw, prepared, label=job.label(raw))


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
            notice("The training run this page was following is gone (the server restarted, or "
                   "its tab was closed too long ago). A run that finished an epoch is in the run "
                   "history: open it on the Runs page, or start a new one on the Train page.")
        return None
    snap = job.snapshot()
    if snap.info.get("took_slot") and ss.get("took_slot_noticed") != snap.id:
        ss.took_slot_noticed = snap.id
        notice("Every training slot was taken, one by a run whose browser tab had been closed: "
               "that run was stopped (its finished epochs are kept in the run history) and "
               "yours took its slot.")
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
    if snap.info.get("cancel_reason") and snap.status == "cancelled":
        notice(f"Your training run was stopped after {len(snap.history)} epochs: "
               f"{snap.info['cancel_reason']}. Its finished epochs are kept (run history).")
    model = snap.result
    context: Prepared | None = snap.info.get("context")
    if snap.status in ("done", "cancelled") and model is not None and model.history_ \
            and context is not None:
        ss.bundle = Bundle(model=model, prepared=context, label=snap.label, job_id=snap.id,
                           status=model.status_, finished=snap.finished or time.time())
        for name in ("eval_results", "eval_estimates", "baseline_results"):
            ss.pop(name, None)


# ---- notices ----------------------------------------------------------------------------------------
def notice(message: str, *, kind: str = "info") -> None:
    """A message for the top of the next page shown (e.g. after a callback); ``kind`` 'error'
    shows it as an error."""
    st.session_state.setdefault("notices", []).append(
        message if kind == "info" else (kind, message))


def show_notices() -> None:
    """The queued notices, then a running background load's progress (:mod:`ui.loading`)."""
    for item in st.session_state.get("notices", []):
        kind, msg = item if isinstance(item, tuple) else ("info", item)
        if kind == "error":
            st.error(msg, icon=":material/error:")
        else:
            st.info(msg, icon=":material/info:")
    st.session_state.notices = []
    load_banner()

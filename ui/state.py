"""Per-session state shared by the pages: owner token, dataset, training job, current model.

Everything a session sees lives in ``st.session_state`` (its own dataset, job and model); the only
process-wide object is :data:`mfcore.jobs.REGISTRY`, whose jobs are owned by this session's token.
The token and the running job's id are mirrored in the URL (``?sid=…&job=…``) so a browser refresh,
which starts a new Streamlit session, reattaches to the same job.
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

from mfcore.errors import MFError
from mfcore.interactions import Interactions
from mfcore.jobs import REGISTRY, Job, JobSnapshot
from mfcore.prepare import Prepared, prepare
from mfcore.train import presets
from mfcore.values import fmt  # also the name pages/evaluate.py imports from here

from .core import BUILTIN, builtin_dataset

log = logging.getLogger("mfx.ui")

_SID = re.compile(r"^[0-9a-f]{32}$")
_JOB = re.compile(r"^[0-9a-f]{16}$")

#: Seconds between two polls of a running job (the Train and Tune panels and the sidebar share
#: it, so the sidebar never lags behind a page's live panel).
POLL_S = 0.5

#: Hyperparameters of the Train page, with their defaults for ratings (MFModel keywords): the
#: engine's own (mfcore.train.presets), so the dashboard and the CLI train the same default model.
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


# ---- session bootstrap ---------------------------------------------------------------------------
def init_session() -> None:
    """Owner token, defaults, the dataset, job sync: run by app.py AND by every page file.

    Because a ``pages/`` folder exists, Streamlit runs in its legacy multipage mode until
    ``st.navigation`` has been called once in the process (and AppTest resets that flag on every
    run): a page file may then run without app.py. Running this twice in one run is harmless.
    """
    _leave_legacy_pages_mode()
    _warm_up_kernels()
    st.set_page_config(page_title="MF Explorer", page_icon=":material/scatter_plot:",
                       layout="wide")
    ss = st.session_state
    if "sid" not in ss:
        qp_sid = st.query_params.get("sid", "")
        ss.sid = qp_sid if _SID.match(qp_sid) else uuid.uuid4().hex
        qp_job = st.query_params.get("job", "")
        if _JOB.match(qp_job):
            ss.job_id = qp_job
            ss.reattach_dataset = True  # a reload: bring back the data the job trains on
    ss.setdefault("hp", dict(HP_DEFAULTS))
    ss.setdefault("job_id", None)
    ss.setdefault("notices", [])
    REGISTRY.touch(ss.sid)
    if "prepared" not in ss:
        load_builtin_default()
    align_hp_with_data(ss.prepared.train.kind)
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
            model = MFModel(factors=4, epochs=1).fit(sp.train, sp.val)
            evaluate_ranking(model, sp.train, sp.val, k=5)
        except Exception:  # only an optimisation
            log.debug("kernel warm-up failed", exc_info=True)

    threading.Thread(target=run, name="mfx-warm-up", daemon=True).start()


def _leave_legacy_pages_mode() -> None:
    """Make every later run go through app.py's ``st.navigation``.

    Streamlit decides at the start of a run whether to use the legacy ``pages/`` mode; the flag
    only turns off once ``st.navigation`` has run. If a fresh server's first visitor opens
    ``/train`` directly, the page runs alone; turning the flag off here makes the next run use
    app.py (same URLs, since the page files give the paths).
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
        PagesManager.uses_pages_directory = False
    except Exception:  # an internal of Streamlit: never fail a page for it
        log.debug("could not leave the legacy pages mode", exc_info=True)


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


@st.cache_resource(show_spinner=False)
def _builtin_prepared() -> tuple[Interactions, Prepared]:
    """The built-in dataset and its default preparation, shared read-only by all sessions."""
    raw = builtin_dataset()
    return raw, prepare(raw)


def load_builtin_default() -> None:
    raw, prepared = _builtin_prepared()
    set_dataset(raw, prepared, label=builtin_label(BUILTIN))


def builtin_label(params: dict) -> str:
    return (f"Built-in synthetic listening data ({params['shape']}, {params['n_users']:,} users, "
            f"{params['n_items']:,} songs, seed {params['seed']})")


def set_dataset(raw: Interactions, prepared: Prepared, *, label: str) -> None:
    """Make ``raw`` (with its preparation) the session's dataset; the model stays as it is."""
    ss = st.session_state
    ss.raw = raw
    ss.prepared = prepared
    ss.dataset_label = label
    ss.pop("eval_results", None)
    if ss.hp.get("neg_ratio") is None:  # 'auto' follows the data (3 for implicit, else 0)
        ss.pop("w_hp_neg_ratio", None)


# ---- jobs -------------------------------------------------------------------------------------------
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
    if ss.pop("reattach_dataset", False) and snap.info.get("context") is not None:
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


def notice(message: str) -> None:
    st.session_state.setdefault("notices", []).append(message)


def show_notices() -> None:
    for msg in st.session_state.get("notices", []):
        st.info(msg, icon=":material/info:")
    st.session_state.notices = []


# ---- widgets that keep their value across pages ---------------------------------------------------
def persisted(store: str, name: str, default: Any = None, options: list | None = None) -> dict:
    """``key``/``value``/``on_change`` for a widget whose value lives in ``session_state[store]``.

    Streamlit drops a widget's own state when a page without it runs; the value is copied into a
    plain dict on every change, and the widget is re-created from it. Pass ``options`` for a
    selectbox or radio (they take an ``index``, not a ``value``).
    """
    ss = st.session_state
    bag = ss.setdefault(store, {})
    key = f"w_{store}_{name}"

    def copy() -> None:
        bag[name] = ss[key]

    kwargs: dict[str, Any] = {"key": key, "on_change": copy}
    if key not in ss:
        value = bag.get(name)
        value = default if value is None else value
        if options is None:
            kwargs["value"] = value
        else:
            kwargs["index"] = options.index(value) if value in options else 0
    return kwargs


def epoch_progress(snap: JobSnapshot) -> str:
    """"epoch N of M" for a training job (the sidebar and the Home page say it alike)."""
    return f"epoch {len(snap.history)} of {snap.info.get('total_epochs', 0)}"


def sidebar_status() -> None:
    """A compact status of the session in the sidebar, live while a job runs.

    A fragment polling at :data:`POLL_S`, the Train page's rate, so it keeps pace with the page's
    live panel; it reruns the whole app once the job has ended.
    """
    job = current_job()
    running = job is not None and job.status == "running"

    @st.fragment(run_every=POLL_S if running else None)
    def status() -> None:
        ss = st.session_state
        lines = []
        prepared: Prepared | None = ss.get("prepared")
        if prepared is not None:
            d = prepared.display
            lines.append(f":material/database: **Data** · {d.n_users:,} users · "
                         f"{d.n_items:,} songs · {len(d):,} plays")
        job = current_job()
        snap = job.snapshot() if job is not None else None
        if snap is not None and snap.running:
            lines.append(f":material/progress_activity: **Training** · {epoch_progress(snap)}")
        bundle: Bundle | None = ss.get("bundle")
        if bundle is not None and bundle.history:
            last = bundle.history[-1]
            lines.append(f":material/model_training: **Model** · k = "
                         f"{bundle.model.params['factors']} · validation RMSE "
                         f"{fmt(last.val_rmse)}")
        else:
            lines.append(":material/model_training: **Model** · none yet")
        st.markdown("  \n".join(lines))  # one element: nothing stale can linger beside it
        if running and (snap is None or not snap.running):
            st.rerun()

    with st.sidebar:
        st.caption("This session")
        status()


def error_text(exc: BaseException) -> str:
    """The message to show for an exception: MFError messages as they are, others typed."""
    if isinstance(exc, MFError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def failure_text(exc: BaseException, doing: str) -> str:
    """An MFError's own message (it explains itself); any other exception after ``doing``
    (e.g. "Could not start training"), typed. Never a traceback."""
    return error_text(exc) if isinstance(exc, MFError) else f"{doing}: {error_text(exc)}"

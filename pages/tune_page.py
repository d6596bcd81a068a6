"""Tune: an Optuna study of the chosen solver's hyperparameters, in the background.

TPE (default), random or grid sampling on the objective chosen (validation RMSE, precision@k,
recall@k or NDCG@k), hopeless trials pruned after an epoch, trials in this server's threads or on
a Dask cluster. Live: the trial table beside the fixed settings, the optimisation history with
the popularity baseline, importances, slice and parallel plots. "Past studies" reopens any study
of the run history with the same view, and extends it.
"""
from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from mfcore.errors import MFError
from mfcore.runstore_sweeps import sweep_from_history
from mfcore.train.presets import SOLVER_BY_KIND
from mfcore.tune import (PRUNERS, SEARCHED_BY, SearchSpace, SweepResult, default_cluster,
                         default_text, parse_objective, sweep_job)
from mfcore.tune.job import live_result
from mfcore.values import fmt
from ui.hparams import HP_DEFAULTS, model_kwargs, set_hp
from ui.jobs import REGISTRY, Job, JobSnapshot
from ui.session import owner, run_history
from ui.text import error_text, failure_text
from ui.widgets import live_job_panel, persisted

ss = st.session_state
_JOB = re.compile(r"^[0-9a-f]{16}$")
LABELS = {"factors": "Latent factors k", "epochs": "Epochs", "lr": "Learning rate γ",
          "reg": "Regularisation λ", "init_std": "Init std", "biased": "Biases",
          "neg_ratio": "Negatives ρ", "neg_sampling": "Negative sampling",
          "alpha": "Confidence α", "confidence": "Confidence g", "cg_steps": "CG steps"}
STATE_MARK = {"complete": "✓ complete", "pruned": "✂ pruned", "failed": "✗ failed"}
MAX_UI_TRIALS = 200
_FIXED = ("seed", "threads", "early_stopping", "patience", "eval_sample", "solve")


# ---- state ------------------------------------------------------------------------------------------
def sweep_job_handle() -> Job | None:
    if "sweep_job_id" not in ss:
        qp = st.query_params.get("sweep", "")
        ss.sweep_job_id = qp if _JOB.match(qp) else None
    return REGISTRY.get(ss.sweep_job_id, owner())


def settings() -> dict:
    return ss.setdefault("tune", {})


def kind() -> str:
    return ss.prepared.train.kind


def solver() -> str:
    return settings().get("solver") or ss.get("hp", {}).get("solver") or SOLVER_BY_KIND[kind()]


def objective_text() -> str:
    t = settings()
    name = t.get("objective") or ("val_rmse" if kind() == "ratings" else "ndcg")
    if name == "val_rmse" and solver() == "als":  # ALS fits preferences: no RMSE to watch
        name = "ndcg"
    return name if name == "val_rmse" else f"{name}@{int(t.get('k', 10))}"


def planned_space() -> SearchSpace:
    """The search space the widgets describe (ConfigError on a bad entry)."""
    t, s, grid = settings(), solver(), settings().get("sampler", "tpe") == "grid"
    entries = {n: t.get(_space_key(n)) for n in SEARCHED_BY[s]}
    space = SearchSpace({n: v for n, v in entries.items() if v is not None}, solver=s,
                        kind=kind(), grid=grid)
    if grid and space.grid_size() > MAX_UI_TRIALS:
        raise MFError(f"the grid has {space.grid_size()} points, more than the {MAX_UI_TRIALS} "
                      "this page runs; use fewer values or the command line")
    return space


def _space_key(name: str) -> str:
    grid = settings().get("sampler", "tpe") == "grid"
    return f"space_{solver()}_{'grid' if grid else 'search'}_{name}"


def base_params() -> dict:
    """The Train page's settings that every trial shares (seed, threads, early stopping...)."""
    kw = model_kwargs()
    return {"solver": solver(), **{k: kw[k] for k in _FIXED}}


# ---- actions (button callbacks) -----------------------------------------------------------------
def start_study(resume: SweepResult | None = None) -> None:
    t = settings()
    try:
        hist = run_history()
        hist.ensure()
        common = dict(n_trials=int(t.get("n", 20)), history=hist,
                      cluster=(t.get("cluster") or "").strip() or "",
                      jobs=int(t.get("jobs", 1)), data_info={"label": ss.get("dataset_label", "")})
        if resume is not None:
            fn = sweep_job(ss.prepared, resume=resume, **common)
        else:
            space = planned_space()
            fn = sweep_job(ss.prepared, space, sampler=t.get("sampler", "tpe"),
                           objective=objective_text(), pruner=t.get("pruner", "median"),
                           seed=int(t.get("seed", 0)), base_params=base_params(),
                           **{**common, "n_trials": None if space.grid else common["n_trials"]})
        job = REGISTRY.start(owner(), fn, label="tuning study", info={"context": ss.prepared})
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        ss.tune_error = failure_text(exc, "Could not start the study")
        return
    ss.tune_error = None
    ss.sweep_job_id = job.id
    ss.pop("sweep_result", None)
    st.query_params["sweep"] = job.id


def train_with(res: SweepResult) -> None:
    """Fill the Train page's form with the best trial's settings; the page goes there next."""
    chosen = {**res.meta.get("fixed_params", {}), **res.best["params"]}
    # set_hp writes the widgets' keys too: a deleted key would leave the browser showing, and
    # sending back, the Train form's old values.
    set_hp({name: value for name, value in chosen.items()
            if name in HP_DEFAULTS and value is not None})
    ss.goto_train = True


def go_train_if_asked() -> None:
    if ss.pop("goto_train", False):
        st.switch_page("pages/train_page.py")


# ---- sections ----------------------------------------------------------------------------------
def study_settings(disabled: bool) -> None:
    t = settings()
    s = solver()
    with st.container(border=True):
        c = st.columns([2, 1, 2, 1, 1])
        c[0].segmented_control("Sampler", ["tpe", "random", "grid"], disabled=disabled,
                               format_func={"tpe": "TPE", "random": "Random",
                                            "grid": "Grid"}.get, **_seg("sampler", "tpe"))
        c[1].selectbox("Solver", ["sgd", "als"], disabled=disabled,
                       **persisted("tune", "solver", s, options=["sgd", "als"]))
        names = (["val_rmse"] if s == "sgd" else []) + ["precision", "recall", "ndcg"]
        current = objective_text().split("@")[0]
        c[2].selectbox("Objective", names, disabled=disabled,
                       format_func={"val_rmse": "validation RMSE (lower is better)",
                                    "precision": "precision@k", "recall": "recall@k",
                                    "ndcg": "NDCG@k"}.get,
                       **persisted("tune", "objective", current if current in names else
                                   names[-1], options=names))
        c[3].number_input("k", 1, 100, disabled=disabled or current == "val_rmse",
                          **persisted("tune", "k", 10))
        c[4].selectbox("Pruner", list(PRUNERS), disabled=disabled,
                       **persisted("tune", "pruner", "median", options=list(PRUNERS)))
        c = st.columns([1, 1, 1, 3])
        grid = t.get("sampler", "tpe") == "grid"
        c[0].number_input("Trials", 1, MAX_UI_TRIALS, disabled=disabled or grid,
                          help="A grid runs each of its points once.",
                          **persisted("tune", "n", 20))
        c[1].number_input("Seed", 0, 2**31 - 1, disabled=disabled,
                          **persisted("tune", "seed", 0))
        c[2].number_input("Trials at once", 1, 16, disabled=disabled,
                          help="Threads of this server (with no cluster).",
                          **persisted("tune", "jobs", 1))
        c[3].text_input("Dask cluster", disabled=disabled, placeholder="tcp://host:8786 — "
                        "empty: this server's threads",
                        help="A Dask scheduler's address; its workers need this project on "
                             "their PYTHONPATH (see the README).",
                        **persisted("tune", "cluster", default_cluster() or ""))
        search_space(s, grid, disabled)


def search_space(s: str, grid: bool, disabled: bool) -> None:
    names = SEARCHED_BY[s]
    cols = st.columns(4)
    for i, name in enumerate(names):
        cols[i % 4].text_input(LABELS[name], disabled=disabled, **persisted(
            "tune", _space_key(name), default_text(name, solver=s, kind=kind(), grid=grid)))
    try:
        space = planned_space()
        what = (f"{space.grid_size()} grid points" if grid else
                f"{int(settings().get('n', 20))} trials")
        st.caption(f"{what} over {', '.join(space.dims) or 'nothing'}; fixed: "
                   f"{', '.join(space.fixed) or 'nothing'}. LO:HI is a range (log scale for "
                   "k, γ, λ, α, init std), a,b,c are choices, one value is fixed. Seed, "
                   "threads and early stopping come from the Train page.")
    except Exception as exc:  # noqa: BLE001 - a bad entry is explained, never a traceback
        st.warning(error_text(exc), icon=":material/edit:")


def _seg(name: str, default):
    kw = persisted("tune", name, default)
    if "value" in kw:
        kw["default"] = kw.pop("value")
    return kw


def trials_table(res: SweepResult, key: str) -> None:
    if not res.trials:
        st.caption("No trial finished.")
        return
    frame = res.trials_frame()
    best_no = res.best["number"] + 1 if res.best else None
    hidden = ("error", "train_rmse", "recall_at_k", "status") + (
        ("val_rmse",) if res.meta.get("solver") == "als" else ())  # ALS fits preferences
    shown = frame.drop(columns=[c for c in hidden if c in frame])
    shown = shown.drop(columns=[c for c in ("val_rmse", "precision_at_k", "ndcg_at_k", "run_id")
                                if c in shown and shown[c].isna().all()])
    shown["state"] = shown["state"].map(lambda s: STATE_MARK.get(s, s))
    styled = shown.style.apply(
        lambda r: ["background-color: #dcfce7; font-weight: 600" if r["trial"] == best_no
                   else "" for _ in r], axis=1)
    c1, c2 = st.columns([3, 1])
    c1.dataframe(styled, hide_index=True, width="stretch", key=f"{key}_trials",
                 height=min(38 + 35 * len(shown), 420),
                 column_config={"value": st.column_config.NumberColumn(
                     res.objective_spec.label, format="%.4f"),
                     "seconds": st.column_config.NumberColumn("seconds", format="%.2f")})
    fixed = res.meta.get("fixed_params") or {}
    c2.dataframe(pd.DataFrame({"fixed setting": list(fixed),
                               "value": [str(v) for v in fixed.values()]}),
                 hide_index=True, width="stretch", key=f"{key}_fixed",
                 height=min(38 + 35 * len(fixed), 420))


def figures(res: SweepResult, key: str) -> None:
    from mfcore.tune.plots import study_figures

    figs = study_figures(res)
    st.plotly_chart(figs["history"], key=f"fig_{key}_history", width="stretch")
    if res.meta.get("reference", {}).get("popularity") is not None:
        st.caption("Dashed line: the popularity baseline (every user gets the most-played songs "
                   "they have not heard), scored the same way. A useful model is above it.")
    cols = st.columns(2)
    if "importance" in figs:
        cols[0].plotly_chart(figs["importance"], key=f"fig_{key}_importance", width="stretch")
        cols[0].caption(f"Importance for {res.objective_spec.label} (PED-ANOVA, Optuna): how "
                        "much each hyperparameter decides whether a trial reaches the best "
                        "tenth of the values; complete trials only, shares sum to 1.")
    if "parallel" in figs:
        cols[1].plotly_chart(figs["parallel"], key=f"fig_{key}_parallel", width="stretch")
    if "slice" in figs:
        st.plotly_chart(figs["slice"], key=f"fig_{key}_slice", width="stretch")


def show_study(snap: JobSnapshot | None) -> None:
    """The study panel: the running study live, how it failed, or the last result."""
    go_train_if_asked()
    if snap is not None and snap.running:
        render_live(snap)
    elif snap is not None and snap.status == "failed":
        st.error(f"The study failed: {snap.error}", icon=":material/error:")
    elif ss.get("sweep_result") is not None:
        render_result(ss.sweep_result)
    else:
        st.info("No study yet in this session. Choose a search space and press **Start "
                "study**.", icon=":material/info:")


def keep_result(snap: JobSnapshot) -> None:
    if snap.result is not None:
        ss.sweep_result = snap.result


def render_live(snap) -> None:
    res = live_result(snap.info, list(snap.history), wall_seconds=snap.elapsed)
    n = int(snap.info.get("n_trials") or 0)
    done = len(snap.history)
    latest = snap.info.get("last_epoch", "starting")
    st.progress(snap.progress, text=f"Study running… {done} of {n or '?'} trials done "
                                    f"({latest})")
    if res is None or not res.trials:
        st.caption("Waiting for the first trial…")
        return
    trials_table(res, "tune_live")
    figures(res, "tune_live")


def render_result(res: SweepResult, key: str = "tune") -> None:
    """The results view of a study: the one just run, or one reopened from the run history.

    ``key`` prefixes every widget and chart key, so two results can share the page.
    """
    spec = res.objective_spec
    counts = res.counts()
    if res.status == "cancelled":
        st.warning(f"Cancelled after {len(res.trials)} of {res.n_planned} trials; the finished "
                   "trials are kept below.", icon=":material/stop:")
    for w in res.warnings:
        st.warning(w, icon=":material/info:")
    if res.best:
        b = res.best
        params = ", ".join(f"{LABELS.get(p, p)} **{fmt(v) if isinstance(v, float) else v}**"
                           for p, v in b["params"].items())
        ref = res.meta.get("reference", {}).get("popularity")
        st.success(f"Best (by {spec.label}): trial {b['number'] + 1} — {params}: "
                   f"{spec.label} **{fmt(b['value'])}**"
                   + (f" (popularity: {fmt(ref)})" if ref is not None else "")
                   + f". {counts['complete']} complete, {counts['pruned']} pruned, "
                     f"{counts['failed']} failed.", icon=":material/emoji_events:")
        c1, c2, _ = st.columns([1, 1, 2])
        c1.button("Train with these settings", key=f"btn_{key}_train", type="primary",
                  icon=":material/model_training:", on_click=train_with, args=(res,))
        c2.download_button("HTML report", key=f"dl_{key}_report", icon=":material/description:",
                           data=lambda: _report(res), file_name=f"{res.sweep_id}.html",
                           mime="text/html", on_click="ignore")
    else:
        st.error("No trial completed: every one was pruned, diverged or failed. Try smaller "
                 "learning rates or another pruner.", icon=":material/warning:")
    trials_table(res, key)
    where = res.meta.get("where") or {}
    st.caption(f"Study `{res.sweep_id}`: {res.sampler} sampler, {res.meta.get('pruner')} "
               f"pruner, {len(res.trials)} trials in {res.wall_seconds:.1f} s"
               + (f" on the Dask cluster {where.get('scheduler')}" if where.get("kind") == "dask"
                  else "") + ", each recorded on the Runs page.")
    figures(res, key)


def _report(res: SweepResult) -> str:
    from mfcore.tune.plots import study_report_html
    return study_report_html(res)


def study_label(row: pd.Series) -> str:
    """One past study in the picker: date, sampler, trials, objective and best value, data."""
    when = row["created"].strftime("%Y-%m-%d %H:%M UTC") if pd.notna(row["created"]) else "?"
    n = int(row["n_runs"])
    try:
        objective = parse_objective(row["metric"]).label
    except MFError:
        objective = str(row["metric"])
    parts = [when, str(row["kind"] or "study"), f"{n} trial{'s' if n != 1 else ''}",
             f"best {objective} {fmt(row['best_value'])}"]
    if isinstance(row.get("dataset"), str) and row["dataset"]:
        parts.append(row["dataset"])
    if row["status"] != "done":
        parts.append({"running": "unfinished"}.get(row["status"], str(row["status"])))
    return " · ".join(parts)


def past_studies(running: bool) -> None:
    """Every study in the run history, newest first; the chosen one in the results view."""
    st.subheader("Past studies")
    hist = run_history()
    try:
        studies = hist.list_sweeps()
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        st.error(f"The run history cannot be read, so past studies cannot be shown: "
                 f"{error_text(exc)}", icon=":material/error:")
        return
    studies = studies[studies["n_runs"] > 0]
    if studies.empty:
        st.caption(f"No study recorded yet in the run history `{hist.path}`.")
        return
    labels = {str(r["id"]): study_label(r) for _, r in studies.iterrows()}
    options = list(labels)
    kw = {"key": "w_tune_past", "on_change": lambda: settings().update(past=ss.w_tune_past)}
    if "w_tune_past" not in ss:
        saved = settings().get("past")
        kw["index"] = options.index(saved) if saved in options else None
    elif ss.w_tune_past not in options:
        del ss["w_tune_past"]
        kw["index"] = None
    picked = st.selectbox(f"Study ({len(options)} recorded, newest first)", options,
                          format_func=lambda i: labels.get(i, i),
                          placeholder="Choose a study to see its results…", **kw)
    if picked is None:
        return
    try:
        res = sweep_from_history(hist, picked)
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        st.error(f"Study {picked} cannot be shown: {error_text(exc)}", icon=":material/error:")
        return
    with st.container(border=True):
        same = (res.meta.get("data") or {}).get("fingerprint") == ss.prepared.fingerprint
        c1, c2 = st.columns([1, 3], vertical_alignment="center")
        c1.button(f"Extend by {int(settings().get('n', 20))} trials", key="btn_tune_extend",
                  icon=":material/add:", on_click=start_study, args=(res,),
                  disabled=running or not same or res.status == "running")
        c2.caption("Runs more trials of this study with its own settings (the number of "
                   "trials above)." if same else "Load the data this study ran on to extend it.")
        render_result(res, key="tune_past")


def page() -> None:
    go_train_if_asked()
    st.title("Tune")
    st.caption("Search the hyperparameters of a solver with Optuna on the current dataset's "
               "split, in the background; hopeless trials are pruned. Each trial is recorded "
               "in the run history.")
    prepared = ss.get("prepared")
    if prepared is None or prepared.val is None or len(prepared.val) == 0:
        st.warning("A study compares trials on validation rows: choose a split with validation "
                   "data on the Data page first.", icon=":material/call_split:")
        st.page_link("pages/data_page.py", label="Open Data", icon=":material/database:")
        past_studies(running=True)
        return
    job = sweep_job_handle()
    running = job is not None and job.status == "running"
    study_settings(disabled=running)
    c1, c2, c3 = st.columns([1, 1, 4], vertical_alignment="center")
    c1.button("Start study", key="btn_tune_start", type="primary", icon=":material/play_arrow:",
              on_click=start_study, disabled=running, width="stretch")
    c3.caption(f"On {len(prepared.train):,} training / {len(prepared.val):,} validation rows "
               f"({prepared.split.kind} split, transform {prepared.opts.transform}). "
               f"{REGISTRY.running_count()} of {REGISTRY.max_jobs} training slots in use.")
    if ss.get("tune_error"):
        st.warning(ss.tune_error, icon=":material/block:")
    live_job_panel(sweep_job_handle, show_study, cancel_slot=c2, cancel_key="btn_tune_cancel",
                   cancel_help="Stops the running trials and drops them; finished ones are kept.",
                   on_final=keep_result, drawn_running=running)
    st.divider()
    past_studies(running)


page()

"""Tune: a grid or a seeded random search over latent size, lr, reg and epochs, in the background.

Below the live sweep, "Past sweeps" reopens any sweep recorded in the run history with the same
results view (:func:`render_result` on :func:`mfcore.runstore_sweeps.sweep_from_history`).
"""
from __future__ import annotations

import re

import pandas as pd
import streamlit as st

from mfcore.errors import MFError
from mfcore.report import (importance_figure, parallel_figure, sweep_report_html,
                           sweep_scatter_figure)
from mfcore.runstore import RunHistory
from mfcore.runstore_sweeps import sweep_from_history
from mfcore.tune import (RANDOM_DEFAULTS, SWEPT, SweepResult, default_text, grid_trials,
                         parse_values, random_trials, sweep_job, trials_frame)
from mfcore.values import fmt
from ui.hparams import HP_DEFAULTS, model_kwargs
from ui.jobs import REGISTRY, Job, JobSnapshot
from ui.session import owner, run_history
from ui.text import error_text, failure_text
from ui.widgets import live_job_panel, persisted

ss = st.session_state
_JOB = re.compile(r"^[0-9a-f]{16}$")
GRID_DEFAULTS = {p: default_text(p, random=False) for p in SWEPT}  # the engine's, as text
LABELS = {"factors": "Latent factors k", "lr": "Learning rate γ", "reg": "Regularisation λ",
          "epochs": "Epochs"}
STATUS_MARK = {"fitted": "✓ fitted", "early_stopped": "⏹ early-stopped",
               "diverged": "⚠ diverged", "failed": "✗ failed"}
MAX_UI_TRIALS = 200


# ---- state ------------------------------------------------------------------------------------------
def sweep_job_handle() -> Job | None:
    if "sweep_job_id" not in ss:
        qp = st.query_params.get("sweep", "")
        ss.sweep_job_id = qp if _JOB.match(qp) else None
    return REGISTRY.get(ss.sweep_job_id, owner())


def settings() -> dict:
    return ss.setdefault("tune", {})


def planned_trials() -> list[dict]:
    """The trials the widgets describe (ConfigError on a bad entry)."""
    t = settings()
    if t.get("mode", "grid") == "grid":
        vals = {p: parse_values(p, str(t.get(p, GRID_DEFAULTS[p])), random=False) for p in SWEPT}
        trials = grid_trials(**vals)
    else:
        spec = {}
        for p in SWEPT:
            lo = t.get(f"{p}_lo", RANDOM_DEFAULTS[p][0])
            hi = t.get(f"{p}_hi", RANDOM_DEFAULTS[p][1])
            spec[p] = lo if lo == hi else (lo, hi)
        trials = random_trials(int(t.get("n", 10)), seed=int(t.get("seed", 0)), **spec)
    if len(trials) > MAX_UI_TRIALS:
        raise MFError(f"{len(trials)} trials is more than the {MAX_UI_TRIALS} this page runs; "
                      "use fewer values or the command line (python -m mfcore sweep)")
    return trials


def base_params() -> dict:
    """The Train page's other settings (every trial shares them)."""
    return {k: v for k, v in model_kwargs().items() if k not in SWEPT}


# ---- actions (button callbacks) -----------------------------------------------------------------
def start_sweep() -> None:
    prepared = ss.prepared
    t = settings()
    try:
        trials = planned_trials()
        k = int(t.get("k", 10)) if t.get("ranking") else None
        metric = "precision_at_k" if k and t.get("by_precision") else "val_rmse"
        space = ({p: t.get(p, GRID_DEFAULTS[p]) for p in SWEPT} if t.get("mode", "grid") == "grid"
                 else {p: f"{t.get(f'{p}_lo', RANDOM_DEFAULTS[p][0])}:"
                          f"{t.get(f'{p}_hi', RANDOM_DEFAULTS[p][1])}" for p in SWEPT})
        hist = run_history()
        hist.ensure()
        fn = sweep_job(prepared, trials, base_params=base_params(), metric=metric, k=k,
                       history=hist, kind=t.get("mode", "grid"), space=space,
                       data_info={"label": ss.get("dataset_label", "")})
        job = REGISTRY.start(owner(), fn, label=f"sweep of {len(trials)} trials",
                             info={"context": prepared, "trials": trials})
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        ss.tune_error = failure_text(exc, "Could not start the sweep")
        return
    ss.tune_error = None
    ss.sweep_job_id = job.id
    ss.pop("sweep_result", None)
    st.query_params["sweep"] = job.id


def train_with_best(params: dict) -> None:
    """Put the best configuration into the Train page's widgets and go there."""
    hp = ss.setdefault("hp", dict(HP_DEFAULTS))
    for p in SWEPT:
        if params.get(p) is None:  # a hyperparameter the trial's solver does not read
            continue
        hp[p] = int(params[p]) if p in ("factors", "epochs") else float(params[p])
        ss.pop(f"w_hp_{p}", None)  # the widget is re-created from ss.hp
    ss.goto_train = True


# ---- sections ----------------------------------------------------------------------------------
def search_space(disabled: bool) -> None:
    t = settings()
    with st.container(border=True):
        c1, c2 = st.columns([2, 3])
        c1.segmented_control("Search", ["grid", "random"], disabled=disabled,
                             format_func={"grid": "Grid", "random": "Random search"}.get,
                             **_seg("mode", "grid"))
        mode = t.get("mode", "grid") or "grid"
        if mode == "grid":
            c2.caption("Grid: comma-separated values; every combination is one trial.")
            cols = st.columns(4)
            for col, p in zip(cols, SWEPT):
                col.text_input(LABELS[p], disabled=disabled,
                               **persisted("tune", p, GRID_DEFAULTS[p]))
        else:
            c2.caption("Random search: each trial draws k, γ and λ log-uniformly and epochs uniformly from the "
                       "ranges (equal ends fix a value). The same seed gives the same trials.")
            cols = st.columns(4)
            cols[0].number_input("Trials N", 1, MAX_UI_TRIALS, disabled=disabled,
                                 **persisted("tune", "n", 10))
            cols[1].number_input("Search seed", 0, 2**31 - 1, disabled=disabled,
                                 **persisted("tune", "seed", 0))
            for p in SWEPT:
                lo, hi = RANDOM_DEFAULTS[p]
                c = st.columns([1, 1, 2])
                if p in ("factors", "epochs"):
                    c[0].number_input(f"{LABELS[p]} from", 1, 4096, disabled=disabled,
                                      **persisted("tune", f"{p}_lo", lo))
                    c[1].number_input("to", 1, 4096, disabled=disabled,
                                      **persisted("tune", f"{p}_hi", hi))
                else:
                    c[0].number_input(f"{LABELS[p]} from", 1e-6, 10.0, format="%.4f",
                                      disabled=disabled, **persisted("tune", f"{p}_lo", lo))
                    c[1].number_input("to", 1e-6, 10.0, format="%.4f", disabled=disabled,
                                      **persisted("tune", f"{p}_hi", hi))
        c1, c2, c3 = st.columns(3)
        c1.toggle("Also measure precision@k", disabled=disabled,
                  help="Held-out precision@k per trial (slower: ranks every user's songs).",
                  **persisted("tune", "ranking", False))
        c2.number_input("k", 1, 100, disabled=disabled or not t.get("ranking"),
                        **persisted("tune", "k", 10))
        c3.toggle("Best = highest precision@k", disabled=disabled or not t.get("ranking"),
                  help="Otherwise the best trial is the one with the lowest validation RMSE.",
                  **persisted("tune", "by_precision", False))
        try:
            n = len(planned_trials())
            st.caption(f"{n} trial{'s' if n != 1 else ''}. Other settings (init std, seed, "
                       "threads, early stopping, negatives) come from the Train page.")
        except Exception as exc:  # noqa: BLE001 - a bad entry is explained, never a traceback
            st.warning(error_text(exc), icon=":material/edit:")


def _seg(name: str, default):
    kw = persisted("tune", name, default)
    if "value" in kw:
        kw["default"] = kw.pop("value")
    return kw


def trials_table(frame: pd.DataFrame, best_no: int | None, show_k: bool,
                 key: str = "tune_trials") -> None:
    cols = ["trial", *SWEPT, "status", "val_rmse", "train_rmse"]
    if show_k:
        cols.append("precision_at_k")
    cols += ["epochs_run", "seconds", "run_id"]
    shown = frame[cols].copy()
    shown["status"] = shown["status"].map(lambda s: STATUS_MARK.get(s, s))
    styled = shown.style.apply(
        lambda r: ["background-color: #dcfce7; font-weight: 600" if best_no is not None
                   and r["trial"] == best_no else "" for _ in r], axis=1)
    st.dataframe(styled, hide_index=True, width="stretch", key=key,
                 height=min(38 + 35 * len(shown), 460),
                 column_config={
                     "lr": st.column_config.NumberColumn("lr γ", format="%.4g"),
                     "reg": st.column_config.NumberColumn("reg λ", format="%.4g"),
                     "val_rmse": st.column_config.NumberColumn("val RMSE", format="%.4f"),
                     "train_rmse": st.column_config.NumberColumn("train RMSE", format="%.4f"),
                     "precision_at_k": st.column_config.NumberColumn("precision@k",
                                                                     format="%.4f"),
                     "seconds": st.column_config.NumberColumn("seconds", format="%.2f"),
                     "run_id": st.column_config.NumberColumn("run", format="%d")})


def show_sweep(snap: JobSnapshot | None) -> None:
    if snap is not None and snap.running:
        render_live(snap)
    elif snap is not None and snap.status == "failed":
        st.error(f"The sweep failed: {snap.error}", icon=":material/error:")
    elif ss.get("sweep_result") is not None:
        render_result(ss.sweep_result)
    else:
        st.info("No sweep yet in this session. Choose a search space and press **Start "
                "sweep**.", icon=":material/info:")


def keep_result(snap: JobSnapshot) -> None:
    if snap.result is not None:
        ss.sweep_result = snap.result


def render_live(snap: JobSnapshot) -> None:
    n = int(snap.info.get("n_trials") or 1)
    done = list(snap.history)
    st.progress(snap.progress, text=f"Sweep running… {snap.message or 'starting'} "
                                    f"({len(done)} of {n} trials done)")
    if not done:
        st.caption("Waiting for the first trial…")
        return
    frame = trials_frame(done)
    show_k = frame["precision_at_k"].notna().any()
    trials_table(frame, None, show_k)
    st.plotly_chart(sweep_scatter_figure(frame, "val_rmse"), key="fig_tune_live_rmse",
                    width="stretch")
    if show_k:
        st.plotly_chart(sweep_scatter_figure(frame, "precision_at_k"), key="fig_tune_live_p",
                        width="stretch")


def render_result(res: SweepResult, key: str = "tune") -> None:
    """The results view of a sweep: the one just run, or one reopened from the run history.

    ``key`` prefixes every widget and chart key, so two results can share the page.
    """
    frame = res.trials_frame()
    show_k = frame["precision_at_k"].notna().any()
    best = res.best
    best_no = best["index"] + 1 if best else None
    if res.status == "cancelled":
        st.warning(f"Cancelled after {len(res.trials)} of {res.n_planned} trials; the finished "
                   "trials are kept below.", icon=":material/stop:")
    elif res.status == "failed":
        st.warning(f"The sweep failed after {len(res.trials)} of {res.n_planned} trials; the "
                   "recorded trials are below.", icon=":material/error:")
    for w in res.warnings:
        st.warning(w, icon=":material/info:")
    marked = frame["status"].value_counts().to_dict()
    notes = [f"{marked[s]} {STATUS_MARK[s].split(' ', 1)[1]}" for s in
             ("diverged", "early_stopped", "failed") if marked.get(s)]
    if best:
        p = best["params"]
        extra = (f", precision@{res.meta.get('k')} **{fmt(best['precision_at_k'])}**"
                 if best.get("precision_at_k") is not None else "")
        st.success(f"Best (by {'precision@k' if res.metric == 'precision_at_k' else 'validation RMSE'}"
                   f"): trial {best_no} — k = **{p['factors']}**, "
                   + (f"γ = **{p['lr']:.4g}**, " if p.get("lr") is not None else "")
                   + f"λ = **{p['reg']:.4g}**, **{p['epochs']}** epochs: validation RMSE "
                   f"**{fmt(best['val_rmse'])}**{extra}."
                   + (f" ({', '.join(notes)} among the trials.)" if notes else ""),
                   icon=":material/emoji_events:")
        c1, c2, _ = st.columns([1, 1, 2])
        c1.button("Train with these settings", key=f"btn_{key}_train", type="primary",
                  icon=":material/model_training:", on_click=train_with_best, args=(p,))
        meta = {**res.meta, "sweep_id": res.sweep_id, "status": res.status,
                "wall_seconds": res.wall_seconds}
        c2.download_button("HTML report", key=f"dl_{key}_report", icon=":material/description:",
                           data=lambda: sweep_report_html(frame, best, res.importance, meta),
                           file_name=f"{res.sweep_id}.html", mime="text/html",
                           on_click="ignore")
    else:
        st.error("No trial finished normally: every one diverged or failed. Try smaller learning "
                 "rates.", icon=":material/warning:")
    trials_table(frame, best_no, show_k, key=f"{key}_trials")
    st.caption(f"Sweep `{res.sweep_id}`: {len(res.trials)} trials in "
               f"{res.wall_seconds:.1f} s, each recorded on the Runs page. "
               "⚠ diverged trials are never the best; ⏹ early-stopped ones kept their best epoch.")
    st.plotly_chart(sweep_scatter_figure(frame, "val_rmse", best_trial=best_no),
                    key=f"fig_{key}_rmse", width="stretch")
    if show_k:
        st.plotly_chart(sweep_scatter_figure(frame, "precision_at_k", best_trial=best_no),
                        key=f"fig_{key}_p", width="stretch")
    st.plotly_chart(parallel_figure(frame, res.metric), key=f"fig_{key}_parallel",
                    width="stretch")
    if res.importance:
        c1, c2 = st.columns([3, 2])
        c1.plotly_chart(importance_figure(res.importance), key=f"fig_{key}_importance",
                        width="stretch")
        c2.caption("**Importance** = eta² from a one-way analysis of variance: the share of the "
                   "spread in validation RMSE across trials that is explained by the average "
                   "RMSE at each value of that hyperparameter (many distinct values are grouped "
                   "into bins, on a log scale for k, γ and λ). Diverged trials are left out. "
                   "It looks at one hyperparameter at a time; with few trials, read it as a "
                   "ranking rather than a measurement.")
    elif len(res.trials) >= 1:
        st.caption("Importance needs at least 3 usable trials with different outcomes.")


def sweep_label(row: pd.Series) -> str:
    """One past sweep in the picker: date, kind, trials, best val RMSE, dataset, status."""
    when = row["created"].strftime("%Y-%m-%d %H:%M UTC") if pd.notna(row["created"]) else "?"
    n = int(row["n_runs"])
    parts = [when, str(row["kind"] or "sweep"), f"{n} trial{'s' if n != 1 else ''}",
             f"best val RMSE {fmt(row['best_val_rmse'])}"]
    dataset = row.get("dataset")
    if isinstance(dataset, str) and dataset:
        parts.append(dataset)
    if row["status"] != "done":
        parts.append({"running": "unfinished"}.get(row["status"], str(row["status"])))
    return " · ".join(parts)


def past_sweeps() -> None:
    """Every sweep in the run history, newest first; the chosen one in the results view."""
    st.subheader("Past sweeps")
    hist = RunHistory()
    try:
        sweeps = hist.list_sweeps()
    except MFError as exc:
        st.error(f"The run history cannot be read, so past sweeps cannot be shown: "
                 f"{error_text(exc)}", icon=":material/error:")
        return
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        st.error(f"The run history cannot be read: {error_text(exc)}", icon=":material/error:")
        return
    sweeps = sweeps[sweeps["n_runs"] > 0]  # a sweep stopped before its first trial shows nothing
    if sweeps.empty:
        st.caption(f"No sweep recorded yet in the run history `{hist.path}`.")
        return
    labels = {str(r["id"]): sweep_label(r) for _, r in sweeps.iterrows()}
    options = list(labels)
    saved = settings().get("past")
    kw = {"key": "w_tune_past", "on_change": lambda: settings().update(past=ss.w_tune_past)}
    if "w_tune_past" not in ss:
        kw["index"] = options.index(saved) if saved in options else None
    elif ss.w_tune_past not in options:
        del ss["w_tune_past"]
        kw["index"] = None
    picked = st.selectbox(f"Sweep ({len(options)} recorded, newest first)", options,
                          format_func=lambda i: labels.get(i, i),
                          placeholder="Choose a sweep to see its results…", **kw)
    if picked is None:
        return
    try:
        res = sweep_from_history(hist, picked)
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        st.error(f"Sweep {picked} cannot be shown: {error_text(exc)}", icon=":material/error:")
        return
    with st.container(border=True):
        render_result(res, key="tune_past")


def page() -> None:
    if ss.pop("goto_train", False):
        st.switch_page("pages/train_page.py")
    st.title("Tune")
    st.caption("Train one model per configuration on the current dataset's split, in the "
               "background, and compare them. Each trial is recorded in the run history.")
    prepared = ss.get("prepared")
    if prepared is None or prepared.val is None or len(prepared.val) == 0:
        st.warning("A sweep compares trials on validation rows: choose a split with validation "
                   "data on the Data page first.", icon=":material/call_split:")
        st.page_link("pages/data_page.py", label="Open Data", icon=":material/database:")
        past_sweeps()
        return
    job = sweep_job_handle()
    running = job is not None and job.status == "running"
    search_space(disabled=running)
    c1, c2, c3 = st.columns([1, 1, 4], vertical_alignment="center")
    c1.button("Start sweep", key="btn_tune_start", type="primary", icon=":material/play_arrow:",
              on_click=start_sweep, disabled=running, width="stretch")
    c3.caption(f"On {len(prepared.train):,} training / {len(prepared.val):,} validation rows "
               f"({prepared.split.kind} split, transform {prepared.opts.transform}). "
               f"{REGISTRY.running_count()} of {REGISTRY.max_jobs} training slots in use.")
    if ss.get("tune_error"):
        st.warning(ss.tune_error, icon=":material/block:")
    live_job_panel(sweep_job_handle, show_sweep, cancel_slot=c2, cancel_key="btn_tune_cancel",
                   cancel_help="Stops the running trial; the finished trials are kept.",
                   on_final=keep_result, drawn_running=running)
    st.divider()
    past_sweeps()


page()

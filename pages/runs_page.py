"""Runs: every recorded training run (Train page, sweeps, command line) from the run history."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from mfcore.report import run_report_html, runs_overlay_figure
from mfcore.runstore import RunHistory, runs_to_csv_frame
from mfcore.values import fmt
from ui.session import Bundle
from ui.text import error_text

ss = st.session_state
SOURCES = {"app": "Train page", "sweep": "Sweeps", "cli": "Command line"}
CURVES = {"val_rmse": "Validation RMSE", "train_rmse": "Train RMSE", "loss": "Training loss"}
SHOWN = ["id", "created", "source", "status", "dataset", "factors", "lr", "reg", "epochs",
         "epochs_run", "train_rmse", "val_rmse", "precision_at_k", "k", "fit_seconds",
         "sweep_id", "n_train", "n_val", "model_path"]


def history() -> RunHistory:
    return RunHistory()


def run_label(row: pd.Series) -> str:
    return (f"#{row['id']} · {row['source']} · k={row['factors']}, lr={row['lr']:g}, "
            f"λ={row['reg']:g} · val RMSE {fmt(row['val_rmse'])}")


# ---- actions (button callbacks) -----------------------------------------------------------------
def table_selection_changed(frame_ids: list[int]) -> None:
    rows = ss.get("runs_table", {}).get("selection", {}).get("rows", [])
    ss.runs_pick = [frame_ids[r] for r in rows if r < len(frame_ids)]


def delete_selected() -> None:
    ids = list(ss.get("runs_pick", []))
    try:
        n = history().delete_runs(ids, delete_model_files=ss.get("runs_delete_files", False))
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        ss.runs_error = error_text(exc)
        return
    ss.runs_pick = []
    ss.runs_confirm_delete = False
    ss.runs_message = f"Deleted {n} run{'s' if n != 1 else ''}."


def load_as_current(run_id: int) -> None:
    prepared = ss.get("prepared")
    try:
        model, meta = history().load_model(run_id)
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        ss.runs_error = error_text(exc)
        return
    problem = incompatibility(model, meta, prepared)
    if problem:
        ss.runs_error = problem
        return
    ss.bundle = Bundle(model=model, prepared=prepared, label=f"Run #{run_id} from the history",
                       job_id=None, status=model.status_, finished=time.time())
    ss.pop("eval_results", None)
    ss.pop("baseline_results", None)
    ss.runs_message = (f"Run #{run_id}'s model is now the current model (used by Recommend and "
                       "Evaluate).")


def incompatibility(model, meta: dict, prepared) -> str | None:
    """Why ``model`` cannot serve the session's dataset, or None when it can."""
    if prepared is None:
        return "Load a dataset on the Data page first."
    train = prepared.train
    if (model.n_users_, model.n_items_) != (train.n_users, train.n_items):
        return (f"This run's model has {model.n_users_:,} users × {model.n_items_:,} songs, but the "
                f"current dataset has {train.n_users:,} × {train.n_items:,}: load the dataset it "
                "was trained on (Data page) first.")
    for name, mine in (("user_ids", train.user_ids), ("item_ids", train.item_ids)):
        theirs = meta.get(name)
        if theirs is not None and len(theirs) and not np.array_equal(
                np.asarray(theirs).astype(str), np.asarray(mine).astype(str)):
            return ("This run's model was trained on another dataset of the same size (its ids "
                    "differ): load that dataset on the Data page first.")
    return None


# ---- sections -------------------------------------------------------------------------------------
def runs_table(frame: pd.DataFrame) -> None:
    shown = frame[[c for c in SHOWN if c in frame]]
    ids = [int(i) for i in shown["id"]]
    st.dataframe(
        shown, key="runs_table", on_select=lambda: table_selection_changed(ids),
        selection_mode="multi-row", hide_index=True, width="stretch", height=320,
        column_config={
            "id": st.column_config.NumberColumn("run", format="%d"),
            "created": st.column_config.DatetimeColumn("recorded (UTC)",
                                                       format="YYYY-MM-DD HH:mm:ss"),
            "lr": st.column_config.NumberColumn("lr γ", format="%.4g"),
            "reg": st.column_config.NumberColumn("reg λ", format="%.4g"),
            "train_rmse": st.column_config.NumberColumn("train RMSE", format="%.4f"),
            "val_rmse": st.column_config.NumberColumn("val RMSE", format="%.4f"),
            "precision_at_k": st.column_config.NumberColumn("precision@k", format="%.4f"),
            "fit_seconds": st.column_config.NumberColumn("seconds", format="%.2f"),
            "model_path": st.column_config.TextColumn("model file"),
        })
    st.caption("Click a column header to sort; tick rows (or pick them below) to compare, load, "
               "export or delete them.")


def compare(frame: pd.DataFrame, picked: list[int]) -> None:
    hist = history()
    labels = {int(r["id"]): run_label(r) for _, r in frame[frame["id"].isin(picked)].iterrows()}
    metric = st.segmented_control("Curve", list(CURVES), format_func=CURVES.get,
                                  default="val_rmse", key="runs_curve") or "val_rmse"
    long = hist.histories(picked)
    if long.empty:
        st.info("The selected runs have no recorded epochs.", icon=":material/info:")
        return
    st.plotly_chart(runs_overlay_figure(long, labels, metric=metric), key="fig_runs_overlay",
                    width="stretch")


def one_run_actions(run_id: int) -> None:
    hist = history()
    try:
        run = hist.get_run(run_id)
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        st.warning(error_text(exc), icon=":material/warning:")
        return
    with st.container(border=True):
        st.markdown(f"**Run #{run_id}** · {run['status']} · {run['source']}"
                    + (f" · sweep `{run['sweep_id']}`" if run.get("sweep_id") else ""))
        c1, c2, c3 = st.columns(3)
        c1.button("Load as current model", key="btn_runs_load", icon=":material/upload:",
                  on_click=load_as_current, args=(run_id,), disabled=not run.get("model_path"),
                  help="Make this run's saved model the session's model (Recommend, Evaluate)."
                  if run.get("model_path") else "This run saved no model file.")
        c2.download_button("History (CSV)", data=lambda: hist.history_csv(run_id),
                           file_name=f"run-{run_id}-history.csv", mime="text/csv",
                           key="dl_run_history", icon=":material/download:", on_click="ignore")
        c3.download_button("HTML report", data=lambda: run_report_html(hist.get_run(run_id)),
                           file_name=f"run-{run_id}-report.html", mime="text/html",
                           key="dl_run_report", icon=":material/description:", on_click="ignore",
                           help="One self-contained file: curves, settings, dataset, metrics.")
        p = run["params"]
        st.caption(" · ".join(f"{k} = {v}" for k, v in p.items()))


def page() -> None:
    st.title("Runs")
    hist = history()
    st.caption(f"Every training run (Train page, Tune sweeps, `python -m mfcore train/sweep "
               f"--history-db`) recorded in the run history `{hist.path}`. It survives server "
               "restarts; set MFX_HISTORY_DB to use another file.")
    for key in ("runs_error", "runs_message"):
        msg = ss.pop(key, None)
        if msg:
            (st.warning if key == "runs_error" else st.success)(
                msg, icon=":material/warning:" if key == "runs_error" else ":material/check:")
    try:
        frame = hist.list_runs()
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        st.error(f"The run history cannot be read: {error_text(exc)}", icon=":material/error:")
        return
    if frame.empty:
        st.info("No runs recorded yet. Train a model or run a sweep on the Tune page.",
                icon=":material/info:")
        return
    sources = st.pills("Source", list(SOURCES), format_func=SOURCES.get, selection_mode="multi",
                       default=list(SOURCES), key="runs_sources")
    frame = frame[frame["source"].isin(sources or [])].reset_index(drop=True)
    runs_table(frame)
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    options = [int(i) for i in frame["id"]]
    ss["runs_pick"] = [i for i in ss.get("runs_pick", []) if i in options]
    by_id = {int(r["id"]): run_label(r) for _, r in frame.iterrows()}
    picked = c1.multiselect("Selected runs", options, format_func=lambda i: by_id.get(i, str(i)),
                            key="runs_pick")
    c2.download_button("Table (CSV)", key="dl_runs_csv", icon=":material/download:",
                       data=runs_to_csv_frame(frame).to_csv(index=False),
                       file_name="runs.csv", mime="text/csv", on_click="ignore",
                       width="stretch")
    if not picked:
        return
    compare(frame, picked)
    if len(picked) == 1:
        one_run_actions(picked[0])
    with st.expander(f"Delete {len(picked)} selected run{'s' if len(picked) != 1 else ''}"):
        st.checkbox("Also delete their model files", key="runs_delete_files")
        st.button("Delete", key="btn_runs_delete", type="primary", icon=":material/delete:",
                  on_click=delete_selected)


page()

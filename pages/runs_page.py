"""Runs: every recorded training run (Train page, sweeps, command line) from the run history."""
from __future__ import annotations

import time

import numpy as np
import pandas as pd
import streamlit as st

from mfcore.modelkeep import human_bytes, keep_setting, model_labels, model_sizes, policy_text
from mfcore.report import run_report_html, runs_overlay_figure
from mfcore.runstore import runs_to_csv_frame
from mfcore.runtable import (MAX_NOTE, PARAM_COLUMNS, PREP_COLUMNS, data_differences,
                             owner_label, tag_list)
from mfcore.values import fmt
from ui.session import Bundle, run_history, run_owner
from ui.text import error_text

ss = st.session_state
SOURCES = {"app": "Train page", "sweep": "Sweeps", "cli": "Command line"}
WHOSE = {"all": "Everyone's", "mine": "Mine"}
CURVES = {"val_rmse": "Validation RMSE", "train_rmse": "Train RMSE", "loss": "Training loss"}
#: The table's columns: who and what, the data and its preparation, every hyperparameter, the
#: results (runs.csv has all of them and the raw owner).
SHOWN = ["id", "created", "by", "source", "status", "model", "tags", "note", "data", "n_users",
         "n_items", "n_interactions", "fingerprint", "split", *PREP_COLUMNS, "factors", "epochs",
         "lr", "reg", *PARAM_COLUMNS, "epochs_run", "best_epoch", "train_rmse", "val_rmse",
         "val_mae", "k", "precision_at_k", "recall_at_k", "ndcg_at_k", "fit_seconds",
         "sweep_id", "n_train", "n_val", "model_path"]
LABELS = {"id": "run", "by": "made by", "model": "model file", "data": "dataset", "n_users": "users",
          "n_items": "songs", "n_interactions": "rows", "val_frac": "validation fraction",
          "split_seed": "split seed", "min_user": "min songs per user",
          "min_item": "min listeners per song", "lr": "lr γ", "reg": "reg λ",
          "neg_ratio": "negatives ρ", "alpha": "confidence α", "confidence": "g(value)",
          "init_std": "init std", "eval_k": "ranking k", "eval_sample": "users ranked",
          "epochs_run": "epochs run", "best_epoch": "best epoch", "train_rmse": "train RMSE",
          "val_rmse": "val RMSE", "val_mae": "val MAE", "precision_at_k": "precision@k",
          "recall_at_k": "recall@k", "ndcg_at_k": "NDCG@k", "fit_seconds": "seconds",
          "model_path": "model path", "n_train": "training rows", "n_val": "validation rows"}


def run_label(row: pd.Series) -> str:
    solver = row.get("solver") or "sgd"
    setting = (f"α={row['alpha']:g}" if solver == "als" and row.get("alpha") is not None
               else f"lr={row['lr']:g}" if pd.notna(row["lr"]) else "")
    return (f"#{row['id']} · {solver} k={row['factors']}, {setting}, λ={row['reg']:g} · "
            f"val RMSE {fmt(row['val_rmse'])} · data {str(row['fingerprint'] or '?')[:8]}")


# ---- actions (button callbacks) -----------------------------------------------------------------
def table_selection_changed(frame_ids: list[int]) -> None:
    rows = ss.get("runs_table", {}).get("selection", {}).get("rows", [])
    ss.runs_pick = [frame_ids[r] for r in rows if r < len(frame_ids)]


def delete_selected(mine: list[int], others: int) -> None:
    try:
        n = run_history().delete_runs(mine, delete_model_files=ss.get("runs_delete_files", False),
                                      only_owner=run_owner())
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        ss.runs_error = error_text(exc)
        return
    ss.runs_pick = []
    kept = (f" {others} made by someone else {'was' if others == 1 else 'were'} kept."
            if others else "")
    ss.runs_message = f"Deleted {n} run{'s' if n != 1 else ''}.{kept}"


def pin_selected(run_ids: list[int]) -> None:
    try:
        pinned = run_history().pin_models(run_ids, only_owner=run_owner())
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        ss.runs_error = error_text(exc)
        return
    names = ", ".join(f"#{i}" for i in sorted(pinned)) or "none"
    ss.runs_message = (f"Pinned the model of run {names}: the keep-models policy will never "
                       "delete it.")


def save_annotation(run_id: int) -> None:
    try:
        run_history().annotate(run_id, note=ss.get(f"runs_note_{run_id}", ""),
                               tags=ss.get(f"runs_tags_{run_id}", ""), only_owner=run_owner())
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        ss.runs_error = error_text(exc)
        return
    ss.runs_message = f"Saved the note and tags of run #{run_id}."


def load_as_current(run_id: int) -> None:
    prepared = ss.get("prepared")
    try:
        model, meta = run_history().load_model(run_id)
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
def filters(frame: pd.DataFrame) -> pd.DataFrame:
    """Source, whose, dataset and tag filters; the rows they keep."""
    c1, c2 = st.columns([3, 2])
    sources = c1.pills("Source", list(SOURCES), format_func=SOURCES.get, selection_mode="multi",
                       default=list(SOURCES), key="runs_sources")
    whose = c2.segmented_control("Made by", list(WHOSE), format_func=WHOSE.get, default="all",
                                 key="runs_whose") or "all"
    keep = frame["source"].isin(sources or [])
    if whose == "mine":
        keep &= frame["owner"] == run_owner()
    c1, c2 = st.columns([3, 2])
    datasets = dict(zip(frame["fingerprint"].fillna("?"), frame["data"]))
    chosen = c1.multiselect("Dataset", list(datasets), format_func=datasets.get,
                            key="runs_datasets", placeholder="All datasets")
    if chosen:
        keep &= frame["fingerprint"].fillna("?").isin(chosen)
    tags = sorted({t for v in frame["tags"] for t in tag_list(v)})
    wanted = c2.multiselect("Tags", tags, key="runs_tags", placeholder="Any tags",
                            help="Runs with at least one of these tags.")
    if wanted:
        keep &= frame["tags"].map(lambda v: bool(set(tag_list(v)) & set(wanted)))
    return frame[keep].reset_index(drop=True)


def disk_use(frame: pd.DataFrame, sizes: pd.Series, models_dir) -> None:
    """The disk the listed runs' model files use (and the model folder's seen-items files),
    and the keep-models policy in words."""
    keep, problem = keep_setting()
    files = int(sizes.notna().sum())
    seen = [p.stat().st_size for p in models_dir.glob("seen-*.npz")] \
        if models_dir.is_dir() else []
    shared = (f"; plus {human_bytes(float(sum(seen)))} of seen-items files in the model folder "
              f"({len(seen):,}: one per dataset, shared by its models, deleted with the last "
              "of them)") if seen else ""
    st.markdown(f"**Model files of the {len(frame):,} listed run{'s' if len(frame) != 1 else ''}:"
                f" {human_bytes(float(sizes.sum()))} on disk** ({files:,} "
                f"file{'s' if files != 1 else ''}; each run's size is in the *model file* "
                f"column{shared})")
    st.caption(policy_text(keep))
    if problem:
        st.warning(problem, icon=":material/warning:")


def runs_table(frame: pd.DataFrame, sizes: pd.Series) -> None:
    shown = frame.assign(model=model_labels(frame, sizes), by=[owner_label(o, run_owner()) for o in frame["owner"]],
                         fingerprint=frame["fingerprint"].str[:8],
                         tags=frame["tags"].fillna(""), note=frame["note"].fillna(""))
    shown = shown[[c for c in SHOWN if c in shown]]
    ids = [int(i) for i in shown["id"]]
    config = {c: st.column_config.Column(label) for c, label in LABELS.items()}
    config.update({
        "id": st.column_config.NumberColumn("run", format="%d"),
        "created": st.column_config.DatetimeColumn("recorded (UTC)",
                                                   format="YYYY-MM-DD HH:mm:ss"),
        **{c: st.column_config.NumberColumn(LABELS[c], format="%.4f")
           for c in ("train_rmse", "val_rmse", "val_mae", "precision_at_k", "recall_at_k",
                     "ndcg_at_k")},
        "lr": st.column_config.NumberColumn("lr γ", format="%.4g"),
        "reg": st.column_config.NumberColumn("reg λ", format="%.4g"),
        "fit_seconds": st.column_config.NumberColumn("seconds", format="%.2f"),
    })
    st.dataframe(shown, key="runs_table", on_select=lambda: table_selection_changed(ids),
                 selection_mode="multi-row", hide_index=True, width="stretch", height=320,
                 column_config=config)
    st.caption("Every setting is a column: scroll right for the data preparation and the "
               "hyperparameters. Click a header to sort; tick rows (or pick them below) to "
               "compare, load, annotate, export or delete them.")


def compare(frame: pd.DataFrame, picked: list[int]) -> None:
    rows = frame[frame["id"].isin(picked)]
    labels = {int(r["id"]): run_label(r) for _, r in rows.iterrows()}
    differences = data_differences(rows)
    if differences:
        st.warning("These runs were not trained and validated on the same rows, so their "
                   "curves do not compare like for like: " + "; ".join(differences) + ".",
                   icon=":material/compare_arrows:")
    metric = st.segmented_control("Curve", list(CURVES), format_func=CURVES.get,
                                  default="val_rmse", key="runs_curve") or "val_rmse"
    long = run_history().histories(picked)
    if long.empty:
        st.info("The selected runs have no recorded epochs.", icon=":material/info:")
        return
    st.plotly_chart(runs_overlay_figure(long, labels, metric=metric), key="fig_runs_overlay",
                    width="stretch")


def one_run(run_id: int) -> None:
    hist = run_history()
    try:
        run = hist.get_run(run_id)
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        st.warning(error_text(exc), icon=":material/warning:")
        return
    pruned = run.get("model_state") == "pruned"
    with st.container(border=True):
        st.markdown(f"**Run #{run_id}** · {run['status']} · {run['source']} · made by "
                    f"{owner_label(run.get('owner'), run_owner())}"
                    + (f" · sweep `{run['sweep_id']}`" if run.get("sweep_id") else ""))
        c1, c2, c3 = st.columns(3)
        c1.button("Load as current model", key="btn_runs_load", icon=":material/upload:",
                  on_click=load_as_current, args=(run_id,), disabled=not run.get("model_path"),
                  help="Make this run's saved model the session's model (Recommend, Evaluate)."
                  if run.get("model_path") else "This run's model was not kept: the keep-models "
                  "policy deleted its file." if pruned else "This run saved no model file.")
        c2.download_button("History (CSV)", data=lambda: hist.history_csv(run_id),
                           file_name=f"run-{run_id}-history.csv", mime="text/csv",
                           key="dl_run_history", icon=":material/download:", on_click="ignore")
        c3.download_button("HTML report", data=lambda: run_report_html(hist.get_run(run_id)),
                           file_name=f"run-{run_id}-report.html", mime="text/html",
                           key="dl_run_report", icon=":material/description:", on_click="ignore",
                           help="One self-contained file: curves, settings, dataset, metrics.")
        st.caption(" · ".join(f"{k} = {v}" for k, v in run["params"].items()))
        annotation(run_id, run)


def annotation(run_id: int, run: dict) -> None:
    """The run's note and tags: editable by the session that made it, read-only otherwise."""
    if run.get("owner") != run_owner():
        if run.get("note") or run.get("tags"):
            st.markdown(f"**Note:** {run.get('note') or '—'}  \n**Tags:** "
                        f"{run.get('tags') or '—'}")
        st.caption("Only the session that made this run (or the command line: `python -m "
                   "mfcore runs note/tag`) can change its note and tags.")
        return
    c1, c2 = st.columns([3, 2])
    c1.text_area("Note", value=run.get("note") or "", key=f"runs_note_{run_id}",
                 max_chars=MAX_NOTE, height=80)
    c2.text_input("Tags (comma-separated)", value=run.get("tags") or "",
                  key=f"runs_tags_{run_id}", placeholder="baseline, demo")
    c2.button("Save note and tags", key="btn_runs_annotate", icon=":material/sell:",
              on_click=save_annotation, args=(run_id,))


def keeping(frame: pd.DataFrame, picked: list[int]) -> None:
    """"Keep this model": pin the selected own runs that still have an unpinned file."""
    rows = frame[frame["id"].isin(picked) & (frame["owner"] == run_owner())
                 & frame["model_path"].map(lambda p: isinstance(p, str) and bool(p))
                 & (frame["model_state"] != "pinned")]
    ids = [int(i) for i in rows["id"]]
    st.button("Keep this model" if len(ids) <= 1 else f"Keep these {len(ids)} models",
              key="btn_runs_keep", icon=":material/push_pin:", on_click=pin_selected, args=(ids,),
              disabled=not ids,
              help="Pin the model files of the selected runs of yours: the keep-models policy "
              "never deletes a pinned file." if ids else "None of the selected runs is yours "
              "with a model file that is not pinned yet.")


def deletion(frame: pd.DataFrame, picked: list[int]) -> None:
    owners = dict(zip(frame["id"].astype(int), frame["owner"]))
    mine = [i for i in picked if owners.get(i) == run_owner()]
    others = len(picked) - len(mine)
    with st.expander(f"Delete {len(picked)} selected run{'s' if len(picked) != 1 else ''}"):
        if others:
            st.caption(f"{others} of them {'was' if others == 1 else 'were'} made by someone "
                       "else (another session or the command line) and will be kept: only "
                       "their maker, or `python -m mfcore runs delete`, can delete them.")
        st.checkbox("Also delete their model files", key="runs_delete_files")
        st.button(f"Delete {len(mine)} run{'s' if len(mine) != 1 else ''} of mine",
                  key="btn_runs_delete", type="primary", icon=":material/delete:",
                  on_click=delete_selected, args=(mine, others), disabled=not mine)


def page() -> None:
    st.title("Runs")
    hist = run_history()
    st.caption(f"Every training run (Train page, Tune sweeps, `python -m mfcore train/sweep "
               f"--history-db`) recorded in the run history `{hist.path}`, shared by everyone "
               "using this server. It survives server restarts; set MFX_HISTORY_DB to use "
               "another file.")
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
    frame = filters(frame)
    sizes = model_sizes(frame)
    disk_use(frame, sizes, hist.models_dir)
    runs_table(frame, sizes)
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
        one_run(picked[0])
    keeping(frame, picked)
    deletion(frame, picked)


page()

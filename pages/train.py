"""Train: hyperparameters, a background training run with live curves, cancel, results."""
from __future__ import annotations

import time

import streamlit as st

from mfcore.jobs import REGISTRY, JobSnapshot, training_job
from mfcore.values import fmt
from ui import charts
from ui.core import human_rate, human_seconds, training_eta
from ui.state import (HP_DEFAULTS, POLL_S, adopt, current_job, error_text, failure_text,
                      hp_defaults, init_session, model_kwargs, owner, persisted)

ss = st.session_state


# ---- actions (button callbacks) -----------------------------------------------------------------
def start_training() -> None:
    from mfcore.train import MFModel, check_memory
    prepared = ss.prepared
    train, val = prepared.train, prepared.val
    try:
        kw = model_kwargs()
        check_memory(train.n_users, train.n_items, len(train), kw["factors"],
                     kw["early_stopping"])
        model = MFModel(**kw)
        label = (f"k = {kw['factors']}, γ = {kw['lr']:g}, λ = {kw['reg']:g} on "
                 f"{ss.get('dataset_label', train.source)}")
        job = REGISTRY.start(owner(), recorded(training_job(model, train, val), model, prepared),
                             label=label,
                             info={"context": prepared, "raw": ss.raw, "params": kw,
                                   "dataset_label": ss.get("dataset_label")})
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        ss.train_error = failure_text(exc, "Could not start training")
        return
    ss.train_error = None
    ss.job_id = job.id
    st.query_params["job"] = job.id


def recorded(fit, model, prepared):
    """The job function: train, then score the model and record the run with its model file
    in the run history, as the command line's ``train`` does (worker thread)."""
    def fn(job):
        t0 = time.perf_counter()
        out = fit(job)
        fit_seconds = time.perf_counter() - t0
        if model.history_:
            try:
                from mfcore.runs import score_run
                from mfcore.runstore import RunHistory
                record = score_run(model, prepared, fit_seconds=fit_seconds)
                history = RunHistory()
                run_id = history.record(record, source="app",
                                        model_path=history.save_model(model, prepared.display))
                job.update_info(run_id=run_id)
            except Exception as exc:  # noqa: BLE001 - the model is fine; say why it is not saved
                job.update_info(history_error=error_text(exc))
        return out
    return fn


def cancel_training() -> None:
    job = current_job()
    if job is not None:
        job.cancel()


def retry_smaller_lr(lr: float) -> None:
    ss.hp["lr"] = lr
    ss.pop("w_hp_lr", None)
    start_training()


def restore_defaults() -> None:
    ss.hp = hp_defaults(ss.prepared.train.implicit)
    for key in [k for k in ss if str(k).startswith("w_hp_")]:
        del ss[key]


# ---- sections ----------------------------------------------------------------------------------
def hyperparameters(disabled: bool) -> None:
    implicit = ss.prepared.train.implicit
    defaults = hp_defaults(implicit)
    with st.container(border=True):
        st.markdown("**Hyperparameters**")
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input("Latent factors k", 1, 1024, step=8, disabled=disabled,
                        help="Size of each user and song vector. More factors fit more detail, "
                             "cost more memory and time, and overfit sooner.",
                        **persisted("hp", "factors", HP_DEFAULTS["factors"]))
        c2.number_input("Epochs", 1, 10_000, step=5, disabled=disabled,
                        help="Passes over the training rows (in a new shuffled order each time).",
                        **persisted("hp", "epochs", HP_DEFAULTS["epochs"]))
        c3.number_input("Learning rate γ", 1e-5, 1.0, step=0.001, format="%.4f",
                        disabled=disabled,
                        help="SGD step size. Too large and the loss explodes (the run diverges); "
                             "too small and it learns slowly.",
                        **persisted("hp", "lr", defaults["lr"]))
        c4.number_input("Regularisation λ", 0.0, 10.0, step=0.01, format="%.4f",
                        disabled=disabled,
                        help="Penalty on factor and bias sizes; larger values fight overfitting.",
                        **persisted("hp", "reg", defaults["reg"]))
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input("Init std", 0.0, 2.0, step=0.01, format="%.3f", disabled=disabled,
                        help="Factors start as N(0, std²); biases start at 0.",
                        **persisted("hp", "init_std", HP_DEFAULTS["init_std"]))
        c2.number_input("Implicit negatives ratio ρ", 0.0, 100.0, step=1.0, format="%.1f",
                        disabled=disabled,
                        help="Unobserved songs sampled per observed pair each epoch, with target "
                             "0. Needed to rank implicit data (default 10 there, with γ 0.03, "
                             "λ 0.01 and no biases; 0 for play counts and ratings). ρ = 0 on "
                             "playlists is the notebook's objective, which cannot rank.",
                        **persisted("hp", "neg_ratio", defaults["neg_ratio"]))
        c3.number_input("Seed", 0, 2**31 - 1, step=1, disabled=disabled,
                        help="Seeds the initial factors, the shuffles and the negatives: the same "
                             "seed gives the same run.",
                        **persisted("hp", "seed", HP_DEFAULTS["seed"]))
        c4.number_input("Threads", 0, 16, step=1, disabled=disabled,
                        help="1 = one thread; T ≥ 2 = parallel stratified SGD; 0 = automatic. "
                             "The server has few cores and is shared: keep 1 unless the data "
                             "is large.", **persisted("hp", "threads", HP_DEFAULTS["threads"]))
        c1, c2, c3, c4 = st.columns(4)
        c1.toggle("Biased model", disabled=disabled,
                  help="r̂ = μ + b_u + b_i + p_u·q_i; off: r̂ = p_u·q_i.",
                  **persisted("hp", "biased", defaults["biased"]))
        c2.toggle("Early stopping", disabled=disabled,
                  help="Stop when validation RMSE has not improved for 'patience' epochs and "
                       "keep the best epoch (needs a validation split).",
                  **persisted("hp", "early_stopping", HP_DEFAULTS["early_stopping"]))
        c3.number_input("Patience", 1, 100, step=1,
                        disabled=disabled or not ss.hp.get("early_stopping"),
                        help="Epochs without improvement before early stopping.",
                        **persisted("hp", "patience", HP_DEFAULTS["patience"]))
        c4.button("Restore defaults", on_click=restore_defaults, disabled=disabled,
                  icon=":material/restart_alt:", key="btn_defaults")


def controls(running: bool):
    prepared = ss.prepared
    c1, c2, c3 = st.columns([1, 1, 4], vertical_alignment="center")
    c1.button("Start training", on_click=start_training, type="primary", disabled=running,
              icon=":material/play_arrow:", key="btn_start", width="stretch")
    slots = f"{REGISTRY.running_count()} of {REGISTRY.max_jobs} training slots in use on this server"
    val_rows = len(prepared.val) if prepared.val is not None else 0
    c3.caption(f"Trains on {len(prepared.train):,} rows, validates on {val_rows:,} "
               f"({prepared.split.kind} split, transform {prepared.opts.transform}). {slots}.")
    if ss.get("train_error"):
        st.warning(ss.train_error, icon=":material/block:")
    return c2


def live_panel(cancel_slot, running: bool) -> None:
    """The run's figures; polls every POLL_S s while ``running`` (as the page saw it)."""
    if running:
        cancel_slot.button("Cancel", on_click=cancel_training, icon=":material/stop:",
                           key="btn_cancel", width="stretch")

    @st.fragment(run_every=POLL_S if running else None)
    def panel() -> None:
        job = current_job()
        if job is None:
            snap = ss.get("last_run")
            if snap is None:
                st.info("No training run yet in this session. Press **Start training**.",
                        icon=":material/info:")
                return
        else:
            snap = job.snapshot()
        if running != snap.running:
            if not snap.running:
                adopt(snap)
            st.rerun()  # the whole page: buttons, sidebar, and the poll timer on or off
        render_run(snap)

    panel()


def render_run(snap: JobSnapshot) -> None:
    hist = snap.history
    total = int(snap.info.get("total_epochs") or len(hist) or 1)
    last = hist[-1] if hist else None
    with st.container(key="live_status"):
        c = st.columns(5)
        c[0].metric("Epoch", f"{len(hist)} / {total}")
        c[1].metric("Train RMSE", fmt(last.train_rmse if last else None))
        c[2].metric("Validation RMSE", fmt(last.val_rmse if last else None))
        c[3].metric("Ratings / s", human_rate(last.ratings_per_s) if last else "–",
                    help="Training rows (plus sampled negatives) processed per second of SGD.")
        if snap.running:
            c[4].metric("ETA", human_seconds(training_eta(hist, total)),
                        help="Remaining epochs × mean seconds per epoch so far.")
        else:
            c[4].metric("Took", human_seconds(snap.elapsed))
        if snap.running:
            st.progress(len(hist) / max(total, 1),
                        text=f"Training… epoch {len(hist)} of {total}")
    status_message(snap)
    if hist:
        best = snap.result.best_epoch_ if snap.result is not None and not snap.running else None
        c1, c2 = st.columns(2)
        c1.plotly_chart(charts.loss_curve(hist), key="fig_loss", width="stretch")
        c2.plotly_chart(charts.rmse_curve(hist, best), key="fig_rmse", width="stretch")
        st.caption("Loss per epoch = Σ e² + λ(‖p_u‖² + ‖q_i‖² + b_u² + b_i²) over the training "
                   "rows, with e = r − r̂(u,i). RMSE = √(mean e²) on the training or the "
                   "validation rows.")
    elif snap.running:
        st.caption("Waiting for the first epoch…")


def status_message(snap: JobSnapshot) -> None:
    model = snap.result
    n = len(snap.history)
    if snap.status == "running":
        return
    if snap.info.get("run_id"):
        st.caption(f":material/history: Recorded as run #{snap.info['run_id']} in the run "
                   "history (see the Runs page).")
    elif snap.info.get("history_error"):
        st.caption(f":material/warning: Not recorded in the run history: "
                   f"{snap.info['history_error']}")
    if snap.status == "failed":
        st.error(f"Training failed: {snap.error}", icon=":material/error:")
    elif snap.status == "diverged":
        at = getattr(model, "diverged_at_", None)
        where = f" in epoch {at[0]}" if at else ""
        lr = float((model.params if model is not None else ss.hp).get("lr", 0.01))
        st.error(f"Training diverged{where}: the loss became infinite or NaN. The learning rate "
                 f"γ = {lr:g} is too large for this data; try a smaller one such as "
                 f"{lr / 4:g}. The model from before was kept.", icon=":material/warning:")
        st.button(f"Retry with γ = {lr / 4:g}", on_click=retry_smaller_lr, args=(lr / 4,),
                  key="btn_retry", icon=":material/replay:")
    elif snap.status == "cancelled":
        if n:
            st.warning(f"Cancelled after {n} epoch{'s' if n != 1 else ''}; the model of the "
                       "last finished epoch is now the current model.", icon=":material/stop:")
        else:
            st.warning("Cancelled before the first epoch finished; the previous model was kept.",
                       icon=":material/stop:")
    else:
        extra = ""
        if model is not None and model.status_ == "early_stopped":
            extra = (f" Early stopping: validation RMSE stopped improving; the best epoch "
                     f"({model.best_epoch_}) was kept.")
        st.success(f"Finished {n} epochs.{extra} This model is now used by Recommend and "
                   "Evaluate.", icon=":material/check_circle:")
        c1, c2 = st.columns(2)
        c1.page_link("pages/recommend.py", label="See recommendations",
                     icon=":material/queue_music:")
        c2.page_link("pages/evaluate.py", label="Evaluate the model", icon=":material/analytics:")


def page() -> None:
    st.title("Train")
    st.caption("Biased matrix factorization r̂(u,i) = μ + b_u + b_i + p_u·q_i, trained by SGD in a "
               "background thread. You may switch pages or reload: the run continues and this "
               "page reattaches to it.")
    job = current_job()
    running = job is not None and job.status == "running"
    hyperparameters(disabled=running)
    cancel_slot = controls(running)
    live_panel(cancel_slot, running)


init_session()  # also here: Streamlit may run a page file without app.py (see ui.state)
page()

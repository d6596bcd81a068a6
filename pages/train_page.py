"""Train: hyperparameters, a background training run with live curves, cancel, results."""
from __future__ import annotations

import streamlit as st

from mfcore.report import loss_curve, ranking_curve, rmse_curve
from mfcore.values import fmt
from ui.hparams import hp_defaults, model_kwargs, solver_changed
from ui.jobs import REGISTRY, JobSnapshot, training_job
from ui.session import current_job, notice, owner, run_history, set_dataset
from ui.text import failure_text, human_rate, human_seconds, ranking_share, training_eta
from ui.widgets import live_job_panel, persisted

ss = st.session_state


# ---- actions (button callbacks) -----------------------------------------------------------------
def start_training() -> None:
    from mfcore.train import MFModel, check_memory
    prepared = ss.prepared
    train = prepared.train
    try:
        kw = model_kwargs()
        check_memory(train.n_users, train.n_items, len(train), kw["factors"],
                     kw["early_stopping"])
        model = MFModel(**kw)
        label = f"{run_label(kw)} on {ss.get('dataset_label', train.source)}"
        job = REGISTRY.start(owner(), training_job(model, prepared, history=run_history()),
                             label=label,
                             info={"context": prepared, "raw": ss.raw, "params": kw,
                                   "kind": train.kind,
                                   "dataset_label": ss.get("dataset_label")})
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        ss.train_error = failure_text(exc, "Could not start training")
        return
    ss.train_error = None
    ss.job_id = job.id
    st.query_params["job"] = job.id


def run_label(kw: dict) -> str:
    """A run's settings in a few words."""
    if kw["solver"] == "als":
        return f"ALS k = {kw['factors']}, λ = {kw['reg']:g}, α = {kw['alpha']:g}"
    return f"SGD k = {kw['factors']}, γ = {kw['lr']:g}, λ = {kw['reg']:g}"


def retry_smaller_lr(lr: float) -> None:
    ss.hp["lr"] = lr
    ss.pop("w_hp_lr", None)
    start_training()


def restore_defaults() -> None:
    ss.hp = hp_defaults(ss.prepared.train.kind)
    for key in [k for k in ss if str(k).startswith("w_hp_")]:
        del ss[key]


def apply_recipe(name: str) -> None:
    """Load a source notebook's set-up: its data preparation (re-prepared now) and settings."""
    from dataclasses import replace

    from mfcore.prepare import prepare
    from mfcore.train import RECIPES
    recipe = RECIPES[name]
    try:
        opts = replace(ss.prepared.opts, **recipe["prepare"])
        prepared = prepare(ss.raw, opts)
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        ss.train_error = failure_text(exc, f"Could not apply {recipe['label']!r}")
        return
    set_dataset(ss.raw, prepared, label=ss.get("dataset_label", ss.raw.source))
    ss.hp = {**hp_defaults(prepared.train.kind, recipe["params"]["solver"]), **recipe["params"]}
    for key in [k for k in ss if str(k).startswith("w_hp_")]:
        del ss[key]
    ss.train_error = None
    notice(f"Applied “{recipe['label']}”: the data was re-prepared ({opts.transform} transform, "
           f"{opts.split} split) and the settings set to the notebook's.")


# ---- sections ----------------------------------------------------------------------------------
KIND_TEXT = {"ratings": "ratings", "counts": "play counts", "binary": "playlists (presence only)"}
SOLVERS = {"sgd": "SGD", "als": "ALS (implicit)"}
MONITORS = {"val_rmse": "validation RMSE", "precision": "precision@k", "recall": "recall@k",
            "ndcg": "NDCG@k"}


def defaults_note(kind: str, defaults: dict) -> str:
    """What the defaults are for this data, and why."""
    if defaults["solver"] == "als":
        return (f"Defaults for **{KIND_TEXT[kind]}**: implicit ALS (k {defaults['factors']}, "
                f"{defaults['epochs']} iterations, λ {defaults['reg']:g}, α {defaults['alpha']:g}), "
                f"watching NDCG@{defaults['eval_k']} — listening data says what people played, "
                "not how much they liked it, so the model is trained and judged on ranking.")
    return (f"Defaults for **{KIND_TEXT[kind]}**: biased SGD on the values with Surprise's SVD "
            f"settings (k {defaults['factors']}, {defaults['epochs']} epochs, "
            f"γ {defaults['lr']:g}, λ {defaults['reg']:g}), watching validation RMSE.")


def hyperparameters(disabled: bool) -> None:
    from mfcore.train import RECIPES
    kind = ss.prepared.train.kind
    defaults = hp_defaults(kind, ss.hp.get("solver"))
    with st.container(border=True):
        st.markdown("**Hyperparameters**")
        st.caption(defaults_note(kind, hp_defaults(kind)))
        cols = st.columns(len(RECIPES) + 1)
        for col, (name, recipe) in zip(cols, RECIPES.items()):
            col.button(recipe["label"], on_click=apply_recipe, args=(name,), disabled=disabled,
                       key=f"btn_recipe_{name}", icon=":material/menu_book:", width="stretch")
        cols[-1].button("Restore defaults", on_click=restore_defaults, disabled=disabled,
                        icon=":material/restart_alt:", key="btn_defaults", width="stretch")
        c1, c2, c3, c4 = st.columns(4)
        solver = persisted("hp", "solver", defaults["solver"], options=list(SOLVERS))
        solver["on_change"] = solver_changed  # untouched settings follow the solver
        c1.selectbox("Solver", list(SOLVERS), format_func=SOLVERS.get, disabled=disabled,
                     help="ALS: implicit alternating least squares — every unobserved pair "
                          "counts as a weak 0, observed pairs as 1 with confidence 1 + α·value. "
                          "SGD: stochastic gradient descent on the observed values (plus sampled "
                          "negatives on implicit data).", **solver)
        als = ss.hp.get("solver", defaults["solver"]) == "als"
        c2.number_input("Latent factors k", 1, 1024, step=8, disabled=disabled,
                        help="Size of each user and song vector. More factors fit more detail, "
                             "cost more memory and time, and overfit sooner.",
                        **persisted("hp", "factors", defaults["factors"]))
        c3.number_input("Iterations" if als else "Epochs", 1, 10_000, step=5, disabled=disabled,
                        help="ALS: one iteration solves every user, then every song."
                             if als else "Passes over the training rows (in a new shuffled "
                                         "order each time).",
                        **persisted("hp", "epochs", defaults["epochs"]))
        c4.number_input("Regularisation λ", 0.0, 1000.0, step=0.01, format="%.4f",
                        disabled=disabled,
                        help="Penalty on factor (and bias) sizes; larger values fight overfitting.",
                        **persisted("hp", "reg", defaults["reg"]))
        solver_fields(als, defaults, disabled)
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input("Seed", 0, 2**31 - 1, step=1, disabled=disabled,
                        help="Seeds the initial factors, the shuffles, the negatives and the "
                             "validation sample: the same seed gives the same run.",
                        **persisted("hp", "seed", defaults["seed"]))
        c2.number_input("Threads", 0, 16, step=1, disabled=disabled,
                        help="1 = one thread; T ≥ 2 = T threads (blocks of rows); 0 = automatic. "
                             "The server has few cores and is shared: keep 1 unless the data "
                             "is large.", **persisted("hp", "threads", defaults["threads"]))
        c3.toggle("Early stopping", disabled=disabled,
                  help="Stop when the watched figure has not improved for 'patience' epochs "
                       "and keep the best epoch (needs a validation split).",
                  **persisted("hp", "early_stopping", defaults["early_stopping"]))
        c4.number_input("Patience", 1, 100, step=1,
                        disabled=disabled or not ss.hp.get("early_stopping"),
                        help="Epochs without improvement before early stopping.",
                        **persisted("hp", "patience", defaults["patience"]))
        c1, c2, c3, _ = st.columns(4)
        c1.selectbox("Watch", list(MONITORS), format_func=MONITORS.get, disabled=disabled,
                     help="The validation figure that picks the best epoch and drives early "
                          "stopping.",
                     **persisted("hp", "monitor", defaults["monitor"], options=list(MONITORS)))
        c2.number_input("Ranking cut-off k", 1, 1000, step=1, disabled=disabled,
                        help="k of precision@k, recall@k and NDCG@k measured after every epoch.",
                        **persisted("hp", "eval_k", defaults["eval_k"]))
        c3.number_input("Validation users ranked", 0, 1_000_000, step=500, disabled=disabled,
                        help="A fixed seeded sample of validation users ranked after every epoch "
                             "(held-out definition); 0 turns the ranking curve off.",
                        **persisted("hp", "eval_sample", defaults["eval_sample"]))


def solver_fields(als: bool, defaults: dict, disabled: bool) -> None:
    """The row of settings that only one solver has."""
    c1, c2, c3, c4 = st.columns(4)
    if als:
        c1.number_input("Confidence α", 0.0, 10_000.0, step=1.0, format="%.2f",
                        disabled=disabled,
                        help="An observed pair counts with confidence c = 1 + α·g(value); every "
                             "unobserved pair with confidence 1 and preference 0.",
                        **persisted("hp", "alpha", defaults["alpha"]))
        c2.selectbox("g(value)", ["linear", "log1p"], disabled=disabled,
                     help="linear: g(v) = v; log1p: g(v) = log(1 + v) (tames large counts).",
                     **persisted("hp", "confidence", defaults["confidence"],
                                 options=["linear", "log1p"]))
        c3.number_input("CG steps", 1, 100, step=1, disabled=disabled,
                        help="Conjugate-gradient steps per row and half-step, warm-started "
                             "from the previous solution (3 is implicit's default).",
                        **persisted("hp", "cg_steps", defaults["cg_steps"]))
        return
    c1.number_input("Learning rate γ", 1e-5, 1.0, step=0.001, format="%.4f", disabled=disabled,
                    help="SGD step size. Too large and the loss explodes (the run diverges); too "
                         "small and it learns slowly.",
                    **persisted("hp", "lr", defaults["lr"]))
    c2.number_input("Implicit negatives ratio ρ", 0.0, 100.0, step=1.0, format="%.1f",
                    disabled=disabled,
                    help="Unobserved songs sampled per observed pair each epoch, with target 0. "
                         "Needed for SGD to rank implicit data; ρ = 0 on playlists is the "
                         "notebook's objective, which cannot rank.",
                    **persisted("hp", "neg_ratio", defaults["neg_ratio"]))
    c3.number_input("Init std", 0.0, 2.0, step=0.01, format="%.3f", disabled=disabled,
                    help="Factors start as N(0, std²); biases start at 0.",
                    **persisted("hp", "init_std", defaults["init_std"]))
    c4.toggle("Biased model", disabled=disabled,
              help="r̂ = μ + b_u + b_i + p_u·q_i; off: r̂ = p_u·q_i.",
              **persisted("hp", "biased", defaults["biased"]))


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


def show_run(snap: JobSnapshot | None) -> None:
    """The running job, or the session's last run when there is none."""
    snap = snap or ss.get("last_run")
    if snap is None:
        st.info("No training run yet in this session. Press **Start training**.",
                icon=":material/info:")
        return
    render_run(snap)


def rmse_means_something(params: dict, kind: str) -> bool:
    """RMSE is shown for SGD on ratings or counts; ALS predicts preferences, not values, and on
    presence-only data every target is 1."""
    return params.get("solver") != "als" and kind != "binary"


def render_run(snap: JobSnapshot) -> None:
    hist = snap.history
    params = snap.info.get("params") or {}
    kind = snap.info.get("kind", "ratings")
    k = int(params.get("eval_k") or 10)
    show_rmse = rmse_means_something(params, kind)
    total = int(snap.info.get("total_epochs") or len(hist) or 1)
    last = hist[-1] if hist else None
    with st.container(key="live_status"):
        c = st.columns(5)
        c[0].metric("Epoch", f"{len(hist)} / {total}")
        if show_rmse:
            c[1].metric("Validation RMSE", fmt(last.val_rmse if last else None),
                        help="√(mean e²) over the validation rows, after the last epoch.")
        else:
            c[1].metric(f"Validation precision@{k}", fmt(last.precision if last else None),
                        help=f"Mean precision@{k} over the run's fixed sample of validation "
                             "users (held-out definition), after the last epoch.")
        c[2].metric(f"Validation NDCG@{k}", fmt(last.ndcg if last else None),
                    help=f"Mean NDCG@{k} over the run's fixed sample of validation users.")
        c[3].metric("Rows / s", human_rate(last.ratings_per_s) if last else "–",
                    help="Training rows (plus sampled negatives) processed per second of the "
                         "solver (ALS: observed pairs, both half-steps).")
        if snap.running:
            c[4].metric("ETA", human_seconds(training_eta(hist, total)),
                        help="Remaining epochs × mean seconds per epoch so far.")
        else:
            c[4].metric("Took", human_seconds(snap.elapsed))
        if snap.running:
            st.progress(len(hist) / max(total, 1),
                        text=f"Training… epoch {len(hist)} of {total}")
    status_message(snap)
    if not hist:
        if snap.running:
            st.caption("Waiting for the first epoch…")
        return
    best = snap.result.best_epoch_ if snap.result is not None and not snap.running else None
    figures = [("fig_loss", loss_curve(hist, params.get("solver", "sgd"))),
               ("fig_ranking", ranking_curve(hist, k, best))]
    if show_rmse:
        figures.append(("fig_rmse", rmse_curve(hist, best)))
    for col, (key, fig) in zip(st.columns(len(figures)), figures):
        col.plotly_chart(fig, key=key, width="stretch")
    share = ranking_share(hist)
    st.caption(LOSS_TEXT[params.get("solver", "sgd")] + f" Ranking: precision@{k}, recall@{k} "
               f"and NDCG@{k} (held-out definition) over a fixed seeded sample of validation "
               "users" + (f", measured in {share:.0%} of an epoch's time."
                          if share is not None else "."))


LOSS_TEXT = {
    "sgd": "Loss per epoch = Σ e² + λ(‖p_u‖² + ‖q_i‖² + b_u² + b_i²) over the training rows "
           "(and sampled negatives), with e = r − r̂(u,i); RMSE = √(mean e²).",
    "als": "Loss per iteration = Σ over all user–song pairs of c·(p − x_u·y_i)² + λ(Σ‖x_u‖² + "
           "Σ‖y_i‖²), with p = 1, c = 1 + α·g(value) for a pair played, p = 0, c = 1 otherwise.",
}


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
            watched = MONITORS.get(model.params.get("monitor"), "the watched figure")
            extra = (f" Early stopping: {watched} stopped improving; the best epoch "
                     f"({model.best_epoch_}) was kept.")
        st.success(f"Finished {n} epochs.{extra} This model is now used by Recommend and "
                   "Evaluate.", icon=":material/check_circle:")
        c1, c2 = st.columns(2)
        c1.page_link("pages/recommend_page.py", label="See recommendations",
                     icon=":material/queue_music:")
        c2.page_link("pages/evaluate_page.py", label="Evaluate the model",
                     icon=":material/analytics:")


def page() -> None:
    st.title("Train")
    st.caption("Matrix factorization: a score x_u·y_i (plus biases with SGD) from a few latent "
               "factors per user and per song, trained by implicit ALS or SGD in a background "
               "thread. You may switch pages or reload: the run continues and this page "
               "reattaches to it.")
    job = current_job()
    running = job is not None and job.status == "running"
    hyperparameters(disabled=running)
    cancel_slot = controls(running)
    live_job_panel(current_job, show_run, cancel_slot=cancel_slot, cancel_key="btn_cancel",
                   drawn_running=running)


page()

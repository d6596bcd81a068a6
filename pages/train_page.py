"""Train: hyperparameters, a background training run with live curves, cancel, results."""
from __future__ import annotations

import streamlit as st

from mfcore.modelkeep import keep_setting, policy_text
from ui.hparams import KIND_TEXT, hp_defaults, model_kwargs, set_hp, solver_changed
from ui.jobs import REGISTRY, JobSnapshot
from ui.training import training_job
from ui.runview import MONITORS, render_run, split_text
from ui.session import current_job, notice, owner, run_history, set_dataset
from ui.text import failure_text
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
    set_hp({"lr": lr})
    start_training()


def restore_defaults() -> None:
    """Every setting back to this data's defaults, in the form (and so in the next run)."""
    kind = ss.prepared.train.kind
    ss.hp = {}
    set_hp(hp_defaults(kind))
    ss.train_error = None
    st.toast(f"Settings restored to the defaults for {KIND_TEXT[kind]}.",
             icon=":material/restart_alt:")


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
        ss.train_error = failure_text(exc, f"Could not apply the {RECIPE_BUTTONS[name][0]}")
        return
    set_dataset(ss.raw, prepared, label=ss.get("dataset_label", ss.raw.source))
    set_hp({**hp_defaults(prepared.train.kind, recipe["params"]["solver"]), **recipe["params"]})
    ss.train_error = None
    notice(f"Applied “{RECIPE_BUTTONS[name][0]}”: the data was re-prepared (transform "
           f"{prepared.opts.transform}, {split_text(prepared.opts)}) and every setting set to "
           "that study's.")


# ---- sections ----------------------------------------------------------------------------------
SOLVERS = {"sgd": "SGD", "als": "ALS (implicit)"}
#: The two studies this tool started from, as their buttons say them.
RECIPE_BUTTONS = {
    "msd-notebook": ("Play-count regression study", "The set-up of the study on Million Song "
                     "Dataset play counts this tool grew from: SGD on standardised counts, a "
                     "third of the rows to validation, judged by RMSE."),
    "playlist-notebook": ("Playlist study", "The set-up of the study on Spotify playlists this "
                          "tool grew from: every pair counts 1, 70/15/15 of the playlists to "
                          "train/validation/test, SGD with 10 sampled negatives per pair."),
}


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
        for col, name in zip(cols, RECIPES):
            label, about = RECIPE_BUTTONS[name]
            col.button(label, on_click=apply_recipe, args=(name,), disabled=disabled,
                       key=f"btn_recipe_{name}", icon=":material/menu_book:", width="stretch",
                       help=about)
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
               f"({split_text(prepared.opts)}, transform {prepared.opts.transform}). {slots}.")
    st.caption(":material/save: " + policy_text(keep_setting()[0]))
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
    render_run(snap, retry_smaller_lr)


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

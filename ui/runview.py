"""The Train page's view of one training run: status tiles, live curves, the settings card.

Everything here is drawn from the run's own snapshot (:class:`ui.jobs.JobSnapshot`): its
settings, its data and its epochs as they were at Start, never the form's current values, so the
view and the run always agree.

The status block keeps one element per slot whatever the run's state (five tiles, then one
progress line that says "Training…", "Saving…" or how the run ended), and the end message has
one slot too (empty while the run goes on): each view replaces the other element for element,
so nothing of the running view (its progress bar) lingers beside the final one, nor a previous
run's "Finished" beside a new run, while the browser redraws.
"""
from __future__ import annotations

from typing import Callable

import streamlit as st

from mfcore.report import loss_curve, ranking_curve, rmse_curve
from mfcore.values import fmt

from .hparams import KIND_TEXT, hp_value_text
from .jobs import JobSnapshot
from .session import run_history, run_owner
from .text import (error_text, headline, human_rate, human_seconds, kept_epoch, nouns, plural,
                   ranking_share, rmse_applies, training_eta)

MONITORS = {"val_rmse": "validation RMSE", "precision": "precision@k", "recall": "recall@k",
            "ndcg": "NDCG@k"}
SPLIT_TEXT = {
    "random": "random split, {frac:.0%} of all rows to validation",
    "holdout": "per-user hold-out, {frac:.0%} of each user's rows to validation",
    "time": "time split, each user's latest {frac:.0%} of rows to validation",
    "user": "whole users split, {frac:.0%} of users to validation",
    "none": "no split (no validation)",
}
LOSS_TEXT = {
    "sgd": "Loss per epoch = Σ e² + λ(‖p_u‖² + ‖q_i‖² + b_u² + b_i²) over the training rows "
           "(and sampled negatives), with e = r − r̂(u,i); RMSE = √(mean e²).",
    "als": "Loss per iteration = Σ over all user–song pairs of c·(p − x_u·y_i)² + λ(Σ‖x_u‖² + "
           "Σ‖y_i‖²), with p = 1, c = 1 + α·g(value) for a pair played, p = 0, c = 1 otherwise.",
}


def split_text(opts) -> str:
    """A preparation's split in words (``opts`` is a :class:`mfcore.prepare.PrepOptions`)."""
    return SPLIT_TEXT.get(opts.split, opts.split).format(frac=opts.val_frac)


def run_settings(params: dict, prepared, dataset_label: str | None) -> list[tuple[str, str]]:
    """The settings of a run as ``(heading, text)`` rows: its data, preparation, model and
    what it watched (``params`` are the MFModel keywords it started with)."""
    d = prepared.display
    words = nouns(d.kind)
    opts = prepared.opts
    val = len(prepared.val) if prepared.val is not None else 0
    als = params.get("solver") == "als"
    model = [hp_value_text("solver", params.get("solver")),
             f"k {params['factors']}", plural(int(params["epochs"]),
                                              "iteration" if als else "epoch"),
             f"λ {hp_value_text('reg', params['reg'])}"]
    if als:
        model += [f"α {hp_value_text('alpha', params['alpha'])}",
                  f"g(value) {params.get('confidence')}", f"CG steps {params.get('cg_steps')}"]
    else:
        model += [f"γ {hp_value_text('lr', params['lr'])}",
                  f"ρ {hp_value_text('neg_ratio', params['neg_ratio'])}",
                  "biased" if params.get("biased") else "unbiased",
                  f"init std {hp_value_text('init_std', params['init_std'])}"]
    model += [f"seed {params['seed']}", f"threads {params['threads'] or 'auto'}"]
    stop = (f"early stopping after {plural(int(params['patience']), 'epoch')} without "
            "improvement" if params.get("early_stopping") else "no early stopping")
    monitor = MONITORS.get(params.get("monitor"), str(params.get("monitor")))
    return [
        ("Data", f"{dataset_label or d.source} — {KIND_TEXT.get(d.kind, d.kind)}: "
                 f"{plural(d.n_users, 'user')} × {plural(d.n_items, words['item'])}, "
                 f"{len(d):,} {words['values']} · fingerprint `{prepared.fingerprint[:10]}`"),
        ("Preparation", f"transform {opts.transform} · {split_text(opts)} · at least "
                        f"{opts.min_user} per user and {opts.min_item} per item · "
                        f"{len(prepared.train):,} training rows, {val:,} validation rows"),
        ("Model", " · ".join(model)),
        ("Watching", f"{monitor} · {stop} · ranking @{params.get('eval_k')} on "
                     f"{plural(int(params.get('eval_sample') or 0), 'validation user')}"),
    ]


def run_card(snap: JobSnapshot) -> None:
    """A fixed card of the settings the run was started with."""
    params, context = snap.info.get("params"), snap.info.get("context")
    if not params or context is None:
        return
    with st.container(border=True, key="run_card"):
        st.markdown("**Settings of this run**")
        for head, text in run_settings(params, context, snap.info.get("dataset_label")):
            st.caption(f"**{head}** · {text}")


def render_run(snap: JobSnapshot, retry: Callable[[float], None]) -> None:
    """The whole view of one run: status, message, curves beside the settings card.

    ``retry(lr)`` starts the run again with a smaller learning rate (offered after divergence).
    """
    hist = snap.history
    params = snap.info.get("params") or {}
    context = snap.info.get("context")
    implicit = bool(context is not None and context.train.implicit)
    k = int(params.get("eval_k") or 10)
    show_rmse = rmse_applies(params, implicit)
    status_tiles(snap, params, implicit)
    if snap.running:
        st.empty()  # in the slot of the end message: a previous run's one vanishes at Start
    else:
        with st.container():
            status_message(snap, retry)
    left, right = st.columns([5, 2])
    with right:
        run_card(snap)
    if not hist:
        if snap.running:
            left.caption("Waiting for the first epoch…")
        return
    model = snap.result
    best = model.best_epoch_ if model is not None and not snap.running else None
    solver = params.get("solver", "sgd")
    figures = [("fig_loss", loss_curve(hist, solver)), ("fig_ranking", ranking_curve(hist, k, best))]
    if show_rmse:
        figures.append(("fig_rmse", rmse_curve(hist, best)))
    with left:
        for row in range(0, len(figures), 2):
            for col, (key, fig) in zip(st.columns(2), figures[row:row + 2]):
                col.plotly_chart(fig, key=key, width="stretch")
        share = ranking_share(hist)
        st.caption(LOSS_TEXT[solver] + f" Ranking: precision@{k}, recall@{k} and NDCG@{k} "
                   "(held-out definition) over a fixed seeded sample of validation users"
                   + (f", measured in {share:.0%} of an epoch's time."
                      if share is not None else "."))


def status_tiles(snap: JobSnapshot, params: dict, implicit: bool) -> None:
    """Five tiles and one progress line; after early stopping the tiles show the kept epoch."""
    hist = snap.history
    k = int(params.get("eval_k") or 10)
    total = int(snap.info.get("total_epochs") or params.get("epochs") or len(hist) or 1)
    model = snap.result
    if snap.running or model is None:
        shown = hist[-1] if hist else None
    else:
        shown = kept_epoch(hist, model.status_, model.best_epoch_)
    kept_note = {}
    if shown is not None and hist and shown is not hist[-1]:
        kept_note = dict(delta=f"epoch {shown.epoch}, kept", delta_color="off",
                         delta_arrow="off")
    saving = snap.running and len(hist) >= total
    with st.container(key="live_status"):
        c = st.columns(5)
        c[0].metric("Epoch", f"{len(hist)} / {total}")
        name, value = headline(params, implicit, shown)
        c[1].metric(name[0].upper() + name[1:], fmt(value), **kept_note,
                    help=("√(mean e²) over the validation rows" if name.endswith("RMSE") else
                          f"Mean NDCG@{k} over the run's fixed sample of validation users")
                    + ", after the epoch whose model is kept.")
        if name.endswith("RMSE"):
            c[2].metric(f"NDCG@{k}", fmt(getattr(shown, "ndcg", None)), **kept_note,
                        help=f"Mean NDCG@{k} over the run's fixed sample of validation users.")
        else:
            c[2].metric(f"Precision@{k}", fmt(getattr(shown, "precision", None)), **kept_note,
                        help=f"Mean precision@{k} over the same users (held-out definition).")
        c[3].metric("Rows / s", human_rate(hist[-1].ratings_per_s) if hist else "–",
                    help="Training rows (plus sampled negatives) processed per second of the "
                         "solver (ALS: observed pairs, both half-steps).")
        if saving:
            c[4].metric("ETA", "saving…", help="Every epoch is done; the model is being "
                        "scored, saved and recorded in the run history.")
        elif snap.running:
            c[4].metric("ETA", human_seconds(training_eta(hist, total)),
                        help="Remaining epochs × mean seconds per epoch so far.")
        else:
            c[4].metric("Took", human_seconds(snap.elapsed))
        st.progress(min(len(hist) / max(total, 1), 1.0), text=progress_text(snap, total))


def progress_text(snap: JobSnapshot, total: int) -> str:
    """The progress line under the tiles, for every state of a run."""
    n = len(snap.history)
    if snap.running:
        if n >= total:
            return f"Saving… all {plural(total, 'epoch')} done; scoring and recording the model"
        return f"Training… epoch {n} of {total}"
    ended = {"done": "Finished", "cancelled": "Cancelled", "diverged": "Diverged",
             "failed": "Failed"}.get(snap.status, snap.status)
    return f"{ended}: {n} of {plural(total, 'epoch')} in {human_seconds(snap.elapsed)}"


def keep_model(run_id: int) -> None:
    """What becomes of the finished run's model file, and "Keep this model" (a pin that the
    keep-models policy of :mod:`mfcore.modelkeep` respects)."""
    try:
        run = run_history().get_run(run_id)
    except Exception:  # noqa: BLE001 - the caption above already names the run
        return
    if run.get("model_state") == "pinned":
        st.caption(":material/push_pin: Its model file is pinned: the keep-models policy never "
                   "deletes it.")
    elif run.get("model_state") == "pruned":
        st.caption(":material/delete: Its model file was not kept (keep-models policy); the "
                   "model stays this session's current model until you train another.")
    elif run.get("model_path"):
        st.button("Keep this model", key="btn_train_keep", icon=":material/push_pin:",
                  on_click=_pin, args=(run_id,),
                  help="Pin its model file: newer runs will not push it out of the history.")


def _pin(run_id: int) -> None:
    try:
        run_history().pin_models([run_id], only_owner=run_owner())
    except Exception as exc:  # noqa: BLE001 - never a traceback in the browser
        st.session_state.train_error = error_text(exc)


def status_message(snap: JobSnapshot, retry: Callable[[float], None]) -> None:
    """How the run ended, what the model now is, and where it was recorded."""
    model = snap.result
    n = len(snap.history)
    if snap.status == "running":
        return
    if snap.info.get("run_id"):
        st.caption(f":material/history: Recorded as run #{snap.info['run_id']} in the run "
                   "history (see the Runs page).")
        keep_model(int(snap.info["run_id"]))
    elif snap.info.get("history_error"):
        st.caption(f":material/warning: Not recorded in the run history: "
                   f"{snap.info['history_error']}")
    if snap.status == "failed":
        st.error(f"Training failed: {snap.error}", icon=":material/error:")
    elif snap.status == "diverged":
        at = getattr(model, "diverged_at_", None)
        where = f" in epoch {at[0]}" if at else ""
        lr = float((model.params if model is not None else snap.info.get("params") or {})
                   .get("lr") or 0.01)
        st.error(f"Training diverged{where}: the loss became infinite or NaN. The learning rate "
                 f"γ = {lr:g} is too large for this data; try a smaller one such as "
                 f"{lr / 4:g}. The model from before was kept.", icon=":material/warning:")
        st.button(f"Retry with γ = {lr / 4:g}", on_click=retry, args=(lr / 4,),
                  key="btn_retry", icon=":material/replay:")
    elif snap.status == "cancelled":
        if n:
            st.warning(f"Cancelled after {plural(n, 'epoch')}; the model of the last finished "
                       "epoch is now the current model.", icon=":material/stop:")
        else:
            st.warning("Cancelled before the first epoch finished; the previous model was kept.",
                       icon=":material/stop:")
    else:
        extra = ""
        if model is not None and model.status_ == "early_stopped":
            watched = MONITORS.get(model.params.get("monitor"), "the watched figure")
            extra = (f" Early stopping: {watched} stopped improving; the best epoch "
                     f"({model.best_epoch_}) was kept, and the tiles show it.")
        st.success(f"Finished {plural(n, 'epoch')}.{extra} This model is now used by Recommend "
                   "and Evaluate.", icon=":material/check_circle:")
        c1, c2 = st.columns(2)
        c1.page_link("pages/recommend_page.py", label="See recommendations",
                     icon=":material/queue_music:")
        c2.page_link("pages/evaluate_page.py", label="Evaluate the model",
                     icon=":material/analytics:")

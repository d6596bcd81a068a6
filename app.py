"""MF Explorer: train and inspect matrix-factorization recommenders in the browser.

Run with ``streamlit run app.py``. This file only routes: it prepares the session (owner token,
the built-in dataset on first visit, the training job's state) and runs the chosen page.
"""
from __future__ import annotations

import streamlit as st

from mfcore.values import fmt
from ui.core import human_seconds
from ui.state import (Bundle, current_job, epoch_progress, init_session, show_notices,
                      sidebar_status)

PAGES = {
    "data": st.Page("pages/data.py", title="Data", icon=":material/database:"),
    "train": st.Page("pages/train.py", title="Train", icon=":material/model_training:"),
    "recommend": st.Page("pages/recommend.py", title="Recommend", icon=":material/queue_music:"),
    "evaluate": st.Page("pages/evaluate.py", title="Evaluate", icon=":material/analytics:"),
    "tune": st.Page("pages/tune.py", title="Tune", icon=":material/tune:"),
    "runs": st.Page("pages/runs.py", title="Runs", icon=":material/history:"),
}


def home() -> None:
    st.title("MF Explorer")
    st.markdown(
        "Train **matrix-factorization recommenders** on listening data (Million Song Dataset play "
        "counts) or playlists (Spotify MPD), watch them learn, and inspect what they recommend.  \n"
        "A model predicts r̂(u,i) = μ + b_u + b_i + p_u·q_i from a few latent factors per user "
        "and per song, learnt by stochastic gradient descent.")

    st.subheader("How to use it")
    steps = st.columns(3, gap="medium")
    with steps[0].container(border=True):
        st.markdown("**1 · Data**")
        st.caption("Upload a file, read one from the server's data folder, or keep the built-in "
                   "synthetic dataset (already loaded). Choose transform, filters and split.")
        st.page_link(PAGES["data"], label="Open Data", icon=":material/arrow_forward:")
    with steps[1].container(border=True):
        st.markdown("**2 · Train**")
        st.caption("Set the hyperparameters and press Start: loss and RMSE curves update live. "
                   "You can cancel at any time and keep the last epoch.")
        st.page_link(PAGES["train"], label="Open Train", icon=":material/arrow_forward:")
    with steps[2].container(border=True):
        st.markdown("**3 · Recommend / Evaluate**")
        st.caption("See a listener's top songs, a song's fans and neighbours, a map of the songs; "
                   "measure precision@k, recall@k and RMSE against baselines.")
        st.page_link(PAGES["recommend"], label="Open Recommend", icon=":material/arrow_forward:")
        st.page_link(PAGES["evaluate"], label="Open Evaluate", icon=":material/arrow_forward:")
    if "tune" in PAGES and "runs" in PAGES:
        c1, c2, _ = st.columns([1, 1, 2])
        c1.page_link(PAGES["tune"], label="Tune: sweep hyperparameters", icon=":material/tune:")
        c2.page_link(PAGES["runs"], label="Runs: compare past runs", icon=":material/history:")

    st.subheader("This session")
    ss = st.session_state
    cols = st.columns(3, gap="medium")
    with cols[0].container(border=True):
        st.markdown(":material/database: **Dataset**")
        prepared = ss.get("prepared")
        if prepared is not None:
            d = prepared.display
            st.caption(ss.get("dataset_label", d.source))
            st.markdown(f"{d.n_users:,} users · {d.n_items:,} songs · {len(d):,} plays  \n"
                        f"train {len(prepared.train):,} · validation "
                        f"{len(prepared.val) if prepared.val is not None else 0:,} rows")
    with cols[1].container(border=True):
        st.markdown(":material/model_training: **Model**")
        bundle: Bundle | None = ss.get("bundle")
        if bundle is None:
            st.caption("No model yet: train one on the Train page.")
            st.page_link(PAGES["train"], label="Train a model", icon=":material/play_arrow:")
        else:
            last = bundle.history[-1]
            p = bundle.model.params
            st.caption(bundle.label)
            st.markdown(f"k = {p['factors']}, {len(bundle.history)} epochs ({bundle.status})  \n"
                        f"train RMSE **{fmt(last.train_rmse)}** · validation RMSE "
                        f"**{fmt(last.val_rmse)}**")
    with cols[2].container(border=True):
        st.markdown(":material/progress_activity: **Training job**")
        job = current_job()
        snap = job.snapshot() if job is not None else None
        if snap is not None and snap.running:
            st.markdown(f"Running: {epoch_progress(snap)}, {human_seconds(snap.elapsed)} so far")
            st.page_link(PAGES["train"], label="Watch it", icon=":material/monitoring:")
        elif snap is not None:
            st.markdown(f"Last run: **{snap.status}** after {len(snap.history)} epochs")
        else:
            st.caption("None running.")
    st.caption("RMSE = √(mean of (r − r̂)²) over the set named; lower is better. Each browser "
               "session has its own data, jobs and model.")


init_session()
nav = st.navigation([st.Page(home, title="Home", icon=":material/home:", default=True),
                     *PAGES.values()])
show_notices()
nav.run()
sidebar_status()  # after the page, so it never shows an older job state than the page did

"""Home: what the tool does, the flow through the pages, and this session's status."""
from __future__ import annotations

import streamlit as st

from ui.session import Bundle, current_job
from ui.text import epoch_progress, human_seconds, nouns, plural
from ui.widgets import model_line

ss = st.session_state
NEXT = ":material/arrow_forward:"


def how_to_use() -> None:
    st.subheader("How to use it")
    steps = st.columns(3, gap="medium")
    with steps[0].container(border=True):
        st.markdown("**1 · Data**")
        st.caption("Upload a file, read one from the server's data folder, or keep the built-in "
                   "synthetic dataset (already loaded). Choose transform, filters and split.")
        st.page_link("pages/data_page.py", label="Open Data", icon=NEXT)
    with steps[1].container(border=True):
        st.markdown("**2 · Train**")
        st.caption("Set the hyperparameters and press Start: the loss and the ranking (or, for "
                   "ratings, RMSE) curves update live. You can cancel at any time and keep the "
                   "last epoch.")
        st.page_link("pages/train_page.py", label="Open Train", icon=NEXT)
    with steps[2].container(border=True):
        st.markdown("**3 · Recommend / Evaluate**")
        st.caption("See a listener's top songs, a song's fans and neighbours, a map of the songs; "
                   "measure precision@k, recall@k and NDCG against popularity (RMSE against "
                   "baselines for ratings).")
        st.page_link("pages/recommend_page.py", label="Open Recommend", icon=NEXT)
        st.page_link("pages/evaluate_page.py", label="Open Evaluate", icon=NEXT)
    c1, c2, _ = st.columns([1, 1, 2])
    c1.page_link("pages/tune_page.py", label="Tune: sweep hyperparameters",
                 icon=":material/tune:")
    c2.page_link("pages/runs_page.py", label="Runs: compare past runs", icon=":material/history:")


def this_session() -> None:
    st.subheader("This session")
    cols = st.columns(3, gap="medium")
    with cols[0].container(border=True):
        st.markdown(":material/database: **Dataset**")
        prepared = ss.get("prepared")
        if prepared is not None:
            d = prepared.display
            words = nouns(d.kind)
            st.caption(ss.get("dataset_label", d.source))
            st.markdown(f"{plural(d.n_users, 'user')} · {plural(d.n_items, words['item'])} · "
                        f"{len(d):,} {words['values']}  \n"
                        f"train {len(prepared.train):,} · validation "
                        f"{len(prepared.val) if prepared.val is not None else 0:,} rows")
    with cols[1].container(border=True):
        st.markdown(":material/model_training: **Model**")
        bundle: Bundle | None = ss.get("bundle")
        if bundle is None:
            st.caption("No model yet: train one on the Train page.")
            st.page_link("pages/train_page.py", label="Train a model",
                         icon=":material/play_arrow:")
        else:
            st.caption(bundle.label)
            st.markdown(f"{plural(len(bundle.history), 'epoch')} ({bundle.status})  \n"
                        f"{model_line(bundle)}")
    with cols[2].container(border=True):
        st.markdown(":material/progress_activity: **Training job**")
        job = current_job()
        snap = job.snapshot() if job is not None else None
        if snap is not None and snap.running:
            st.markdown(f"Running: {epoch_progress(snap)}, {human_seconds(snap.elapsed)} so far")
            st.page_link("pages/train_page.py", label="Watch it", icon=":material/monitoring:")
        elif snap is not None:
            st.markdown(f"Last run: **{snap.status}** after {plural(len(snap.history), 'epoch')}")
        else:
            st.caption("None running.")


def page() -> None:
    st.title("MF Explorer")
    st.markdown(
        "Train **matrix-factorization recommenders** on listening data (Million Song Dataset play "
        "counts) or playlists (Spotify MPD), watch them learn, and inspect what they recommend.  \n"
        "A model scores each user–song pair by p_u·q_i, a few latent factors per user and per "
        "song: learnt by implicit ALS for play counts and playlists (ranked, what people played), "
        "or by SGD with biases μ + b_u + b_i for ratings.")
    how_to_use()
    this_session()
    st.caption("precision@k: the share of a user's top k that they played in held-out data; "
               "RMSE = √(mean of (r − r̂)²), lower is better. Each browser session has its own "
               "data, jobs and model.")


page()

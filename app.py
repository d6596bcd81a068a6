"""MF Explorer: train and inspect matrix-factorization recommenders in the browser.

Run with ``streamlit run app.py``. This file is the frame of every page: on every run it sets
up the session (owner token, the built-in dataset on first visit, the training job's result,
the URL), routes to the chosen page with ``st.navigation``, and draws the sidebar.

Each page file's name differs from its URL (``pages/train_page.py`` is served at ``/train``).
A ``pages/`` folder puts Streamlit in its legacy multipage mode until ``st.navigation`` has run
once in the process, and that mode serves a page file by its file name, without this frame; with
names that never match a URL, a fresh server's first request for ``/train`` falls back to the
default page, this script, which then routes to the Train page. So this frame runs on every
run, in a browser and in AppTest alike.
"""
from __future__ import annotations

import streamlit as st

from ui.session import setup_session, show_notices
from ui.widgets import sidebar_status

#: (file, URL path, title, icon) of every page, in the navigation's order.
PAGES = [
    ("pages/home_page.py", "", "Home", ":material/home:"),
    ("pages/data_page.py", "data", "Data", ":material/database:"),
    ("pages/train_page.py", "train", "Train", ":material/model_training:"),
    ("pages/recommend_page.py", "recommend", "Recommend", ":material/queue_music:"),
    ("pages/evaluate_page.py", "evaluate", "Evaluate", ":material/analytics:"),
    ("pages/tune_page.py", "tune", "Tune", ":material/tune:"),
    ("pages/runs_page.py", "runs", "Runs", ":material/history:"),
]

st.set_page_config(page_title="MF Explorer", page_icon=":material/scatter_plot:", layout="wide")
setup_session()
nav = st.navigation([st.Page(path, title=title, icon=icon, url_path=url or None,
                             default=not url) for path, url, title, icon in PAGES])
show_notices()
nav.run()
sidebar_status()  # after the page, so it never shows an older job state than the page did

"""Data: load a dataset (upload, server file, built-in), look at it, prepare and split it."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from mfcore.prepare import PrepOptions, prepare
from mfcore.report import long_tail, value_distribution
from mfcore.train import memory_estimate
from ui.datafolder import (LoadOptions, data_dir, list_data_files, load_path, load_upload,
                           resolve_in_data_dir)
from ui.loading import start_load
from ui.session import BUILTIN, builtin_dataset, builtin_label, notice, set_dataset
from ui.text import error_text, human_bytes
from ui.widgets import persisted

ss = st.session_state
DUPLICATES = ["sum", "max", "last", "first", "error"]
SHAPES = ["msd", "ratings", "playlist"]
FORMAT_LABELS = {
    None: "Detect from the file",
    "triplets": "MSD triplets (user, song, count; tab-separated, .gz too)",
    "csv": "CSV with named columns",
    "tsv": "TSV with named columns",
    "parquet": "Parquet",
    "mpd": "Spotify MPD slice (JSON)",
    "sqlite": "SQLite database",
}
SPLIT_LABELS = {
    "random": "Random: a fraction of all plays to validation",
    "holdout": "Per-user hold-out: a fraction of each user's songs to validation",
    "none": "No split: train on everything (no validation RMSE, no held-out metrics)",
}
TRANSFORM_LABELS = {
    "auto": "automatic: log(1 + count) for play counts, none for ratings and implicit data",
    "log1p": "log(1 + count): tames heavy play counts (recommended for play counts)",
    "none": "none: train on the raw values",
    "standardize": "standardize: (value − mean) / std",
    "binary": "binary: every observed pair is 1 (implicit)",
}


# ---- loads (started by button callbacks, run in the background: ui.loading) --------------------
def request(kind: str) -> None:
    """Start loading in the background; everything the load needs is taken from the session
    now, so a page switch a moment later cannot drop it."""
    try:
        name, read, label = load_source(kind, load_options())
    except Exception as exc:  # noqa: BLE001 - every failure is shown; the old dataset stays
        notice(f"Could not load {source_name(kind) or 'the data'}: {error_text(exc)}",
               kind="error")
        return
    refused = start_load(name, read, prep_options(), label=label)
    if refused:
        notice(refused, kind="error")


def source_name(kind: str) -> str:
    if kind == "upload":
        return getattr(ss.get("w_upload"), "name", "")
    if kind == "server":
        return ss.get("w_server_path", "") or ss.get("w_server_pick", "")
    return "the built-in dataset"


def load_source(kind: str, opts: LoadOptions):
    """(name, read(progress) -> Interactions, label(raw) -> str) of the chosen source."""
    if kind == "builtin":
        chosen = dict(ss.get("builtin", {}))
        name = builtin_label({**BUILTIN, **chosen})

        def generate_it(progress):
            progress(0.2, "Generating the synthetic dataset…")
            return builtin_dataset(**chosen)
        return name, generate_it, lambda raw: name
    if kind == "upload":
        up = ss.get("w_upload")
        if up is None:
            raise ValueError("choose a file to upload first")
        payload, meta = up.getvalue(), ss.get("w_upload_meta")
        meta = (meta.name, meta.getvalue()) if meta is not None else None
        return (up.name, lambda progress: load_upload(up.name, payload, opts, meta, progress),
                lambda raw: f"{up.name} ({raw.source})")
    name = source_name("server")
    path = resolve_in_data_dir(name)
    meta_path = (ss.get("w_server_meta") or "").strip()
    meta = str(resolve_in_data_dir(meta_path)) if meta_path else None
    return (name, lambda progress: load_path(path, opts, meta, progress),
            lambda raw: f"{name} ({raw.source})")


def apply_preparation() -> None:
    try:
        prepared = prepare(ss.raw, prep_options())
    except Exception as exc:  # noqa: BLE001
        ss.prep_error = f"Could not apply these settings: {error_text(exc)}"
        return
    ss.prep_error = None
    set_dataset(ss.raw, prepared, label=ss.dataset_label)


def load_options() -> LoadOptions:
    o = ss.get("load", {})
    cap = int(o.get("max_rows") or 0)
    return LoadOptions(format=o.get("format"), max_rows=cap or None,
                       duplicates=o.get("duplicates", "sum"),
                       user_col=o.get("user_col") or None, item_col=o.get("item_col") or None,
                       value_col=o.get("value_col") or None, table=o.get("table") or None)


def prep_options() -> PrepOptions:
    cur = ss.prepared.opts if "prepared" in ss else PrepOptions()
    p = ss.get("prep", {})
    # The transform as chosen ('auto' follows each new dataset), not as last applied.
    return PrepOptions(transform=p.get("transform", "auto"),
                       min_user=int(p.get("min_user", cur.min_user)),
                       min_item=int(p.get("min_item", cur.min_item)),
                       split=p.get("split", cur.split),
                       val_frac=float(p.get("val_frac", cur.val_frac)),
                       seed=int(p.get("seed", cur.seed)))


# ---- sections -----------------------------------------------------------------------------------
def loading_options_widgets() -> None:
    with st.expander("Loading options: format, row cap, duplicates, column names"):
        c1, c2, c3 = st.columns(3)
        c1.selectbox("Format", list(FORMAT_LABELS), format_func=FORMAT_LABELS.get,
                     help="Detected from the suffix and the first bytes when left on 'Detect'.",
                     **persisted("load", "format", None, list(FORMAT_LABELS)))
        c2.number_input("Row cap (0 = all rows)", min_value=0, step=100_000,
                        help="Read at most this many rows: try a huge file quickly.",
                        **persisted("load", "max_rows", 0))
        c3.selectbox("Repeated (user, song) rows", DUPLICATES,
                     help="How rows with the same user and song are merged.",
                     **persisted("load", "duplicates", "sum", DUPLICATES))
        c1, c2, c3, c4 = st.columns(4)
        c1.text_input("User column", help="CSV/TSV/Parquet/SQLite: the user id column "
                      "(guessed when empty).", **persisted("load", "user_col", ""))
        c2.text_input("Song column", help="The item id column.",
                      **persisted("load", "item_col", ""))
        c3.text_input("Value column", help="Play count or rating; empty means implicit (1).",
                      **persisted("load", "value_col", ""))
        c4.text_input("SQLite table", help="The table holding the pairs (SQLite only).",
                      **persisted("load", "table", ""))


def sources() -> None:
    st.subheader("Load data")
    t_builtin, t_upload, t_server = st.tabs(["Built-in synthetic", "Upload a file",
                                             "File on the server"])
    with t_builtin:
        st.caption("Synthetic listening data with a planted low-rank taste structure, power-law "
                   "song popularity and fake titles/artists. Loaded by default.")
        c1, c2, c3, c4 = st.columns(4)
        c1.number_input("Users", 100, 200_000, step=500, **persisted("builtin", "n_users",
                                                                     BUILTIN["n_users"]))
        c2.number_input("Songs", 50, 100_000, step=500, **persisted("builtin", "n_items",
                                                                    BUILTIN["n_items"]))
        c3.number_input("Interactions", 1000, 5_000_000, step=10_000,
                        **persisted("builtin", "n_interactions", BUILTIN["n_interactions"]))
        c4.selectbox("Shape", SHAPES,
                     format_func={"msd": "play counts (MSD-like)", "ratings": "ratings",
                                  "playlist": "playlists (implicit)"}.get,
                     **persisted("builtin", "shape", BUILTIN["shape"], SHAPES))
        st.button("Generate and load", on_click=request, args=("builtin",),
                  icon=":material/auto_awesome:", key="btn_builtin")
    with t_upload:
        st.file_uploader(
            "Triplets TSV/CSV (optionally .gz), Parquet, MPD slice JSON or a SQLite file",
            type=None, key="w_upload",
            help="Up to 500 MB. The file is parsed in the server's memory; it is not stored.")
        st.file_uploader("Song metadata CSV (optional: titles and artists for display)",
                         type=None, key="w_upload_meta",
                         help="A CSV with a song id column and title/artist columns, such as "
                              "the MSD song_data.csv.")
        st.button("Load upload", on_click=request, args=("upload",), type="primary",
                  icon=":material/upload:", key="btn_upload",
                  disabled=ss.get("w_upload") is None)
    with t_server:
        root = data_dir()
        st.caption(f"Only files inside the data folder `{root}` can be read "
                   "(set `MFX_DATA_DIR` to change it). Paths are resolved first, so `..` and "
                   "links that lead outside are refused.")
        files = list_data_files(root)
        c1, c2 = st.columns([1, 1])
        c1.selectbox("Files found", [""] + files, key="w_server_pick",
                     format_func=lambda f: f or "— pick a file —",
                     on_change=lambda: ss.update(w_server_path=ss.w_server_pick))
        c2.text_input("Or type a path (relative to the data folder)", key="w_server_path",
                      placeholder="msd/train_triplets.txt.gz")
        st.text_input("Song metadata CSV in the data folder (optional)", key="w_server_meta",
                      placeholder="msd/song_data.csv")
        st.button("Load from server", on_click=request, args=("server",), type="primary",
                  icon=":material/folder_open:", key="btn_server",
                  disabled=not ss.get("w_server_path"))
    loading_options_widgets()


def summary() -> None:
    prepared = ss.prepared
    d = prepared.display
    raw = ss.raw
    st.subheader("Current dataset")
    st.caption(ss.get("dataset_label", d.source))
    c = st.columns(5)
    c[0].metric("Users", f"{d.n_users:,}")
    c[1].metric("Songs" if not d.implicit else "Tracks", f"{d.n_items:,}")
    c[2].metric("Interactions", f"{len(d):,}")
    c[3].metric("Density", f"{d.density:.3%}", help="interactions / (users × songs)")
    c[4].metric("Duplicates merged", f"{raw.n_duplicates_merged:,}",
                help="Rows with a (user, song) pair already seen, folded into it by the "
                     "'repeated rows' policy.")
    removed = prepared.info.get("rows_removed_by_filters", 0)
    sp = prepared.split
    cold = sp.info.get("n_cold_users", 0), sp.info.get("n_cold_items", 0)
    parts = [f"training rows **{len(sp.train):,}**",
             f"validation rows **{len(sp.val) if sp.val is not None else 0:,}**"]
    if removed:
        parts.append(f"filters removed {removed:,} rows ({prepared.info['users_removed']:,} users,"
                     f" {prepared.info['items_removed']:,} songs)")
    if any(cold):
        parts.append(f"cold in validation: {cold[0]:,} users, {cold[1]:,} songs (no training "
                     "rows; their predictions use the biases only)")
    st.markdown(" · ".join(parts))

    k = int(ss.hp.get("factors", 32))
    need = memory_estimate(d.n_users, d.n_items, len(sp.train), k,
                           bool(ss.hp.get("early_stopping")))
    st.markdown(f":material/memory: With **k = {k}** latent factors (set on the Train page) "
                f"training needs about **{human_bytes(need)}** for factors, biases, a snapshot "
                f"and the visit order, plus **{human_bytes(d.nbytes())}** for the loaded rows "
                "(12 bytes each).")


def preparation() -> None:
    st.subheader("Prepare and split")
    cur = ss.prepared.opts
    implicit = ss.raw.implicit
    with st.form("prep_form", border=True):
        c1, c2, c3 = st.columns(3)
        transforms = list(TRANSFORM_LABELS)
        chosen = ss.get("prep", {}).get("transform", "auto")
        c1.selectbox("Transform of the values", transforms, index=transforms.index(chosen),
                     format_func=lambda t: TRANSFORM_LABELS[t] + (
                         f" (here: {cur.transform})" if t == "auto" else ""), key="f_transform",
                     help="Applied before training; metrics and RMSE are on this scale.")
        c2.number_input("Min songs per user", 1, 10_000, value=cur.min_user, key="f_min_user",
                        help="Users with fewer songs are dropped (repeated with the song filter "
                             "until both hold).")
        c3.number_input("Min listeners per song", 1, 100_000, value=cur.min_item,
                        key="f_min_item", help="Songs with fewer listeners are dropped.")
        c1, c2, c3 = st.columns(3)
        splits = list(SPLIT_LABELS)
        c1.selectbox("Split", splits, index=splits.index(cur.split), format_func=SPLIT_LABELS.get,
                     key="f_split", help="Validation rows give the validation RMSE curve and "
                     "the held-out precision/recall.")
        c2.slider("Validation fraction", 0.05, 0.5, value=float(cur.val_frac), step=0.05,
                  key="f_val_frac")
        c3.number_input("Split seed", 0, 2**31 - 1, value=cur.seed, key="f_seed")
        if implicit:
            st.caption("This dataset is implicit (every value is 1): the automatic transform "
                       "leaves it as it is.")
        st.form_submit_button("Apply", on_click=_submit_prep, icon=":material/tune:")
    if ss.get("prep_error"):
        st.error(ss.prep_error, icon=":material/error:")


def _submit_prep() -> None:
    ss.prep = {"transform": ss.f_transform, "min_user": ss.f_min_user,
               "min_item": ss.f_min_item, "split": ss.f_split, "val_frac": ss.f_val_frac,
               "seed": ss.f_seed}
    apply_preparation()


def looks() -> None:
    d = ss.prepared.display
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(value_distribution(d.values, d.implicit), key="fig_values",
                        width="stretch")
        st.caption("How many user–song pairs have each play count (raw values, before the "
                   "transform; log scale).")
    with c2:
        st.plotly_chart(long_tail(d.item_counts()), key="fig_tail", width="stretch")
        st.caption("Popularity of a song = number of users with at least one play of it. A few "
                   "songs are everywhere; most are rare (log–log scale).")
    st.markdown("**Preview**")
    n = min(len(d), 200)
    rows = np.arange(n)
    preview = pd.DataFrame({
        "user": [str(u) for u in d.user_ids[d.users[rows]]],
        "song id": [str(i) for i in d.item_ids[d.items[rows]]],
    })
    if d.item_meta is not None and len(d.item_meta):
        meta = d.item_meta.reindex(d.item_ids[d.items[rows]])
        for col in ("title", "artist"):
            if col in meta:
                preview[col] = meta[col].astype("string").to_numpy()
    preview["plays" if not d.implicit else "value"] = d.values[rows]
    st.dataframe(preview, hide_index=True, width="stretch", height=260)
    st.caption(f"The first {n:,} of {len(d):,} rows (sorted by user); names come from the "
               "metadata when the dataset has it.")


def page() -> None:
    st.title("Data")
    st.caption("Three ways in: the built-in synthetic dataset (loaded), an upload, or a file in "
               "the server's data folder. A load runs in the background (you may switch "
               "pages); a failed load keeps the dataset you had.")
    summary()
    sources()
    preparation()
    looks()
    st.page_link("pages/train_page.py", label="Next: train a model", icon=":material/arrow_forward:")


page()

"""Data: load a dataset (upload, server file, built-in), look at it, prepare and split it."""
from __future__ import annotations

import streamlit as st

from mfcore.prepare import PrepOptions, default_transform, prepare
from ui.dataview import looks, summary
from ui.datafolder import (LoadOptions, data_dir, list_data_files, load_path, load_upload,
                           resolve_in_data_dir)
from ui.loading import start_load
from ui.session import BUILTIN, builtin_dataset, builtin_label, notice, set_dataset
from ui.text import error_text, nouns
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
#: Short enough to read in the closed box; the help says the rest.
SPLIT_LABELS = {
    "random": "Random rows",
    "holdout": "Per-user hold-out",
    "time": "By time, per user",
    "user": "Whole users",
    "none": "No split",
}
SPLIT_HELP = ("**Random rows**: a fraction of all rows to validation. **Per-user hold-out**: a "
              "random fraction of each user's rows. **By time, per user** (data with times): "
              "each user's latest rows to validation, the earlier ones to training. **Whole "
              "users**: a fraction of the users (and test users, the playlist study's split). "
              "**No split**: train on everything (no validation RMSE, no held-out metrics).")
SOURCE_TABS = ["Built-in synthetic", "Upload a file", "File on the server"]
TRANSFORM_LABELS = {"auto": "automatic", "log1p": "log(1 + value)", "none": "none",
                    "standardize": "standardize", "binary": "binary (every pair 1)"}
TRANSFORM_HELP = ("Applied before training; metrics and RMSE are on this scale. **automatic**: "
                  "log(1 + count) for play counts, none for ratings and presence-only data. "
                  "**log(1 + value)** tames heavy play counts. **standardize**: (value − mean) "
                  "/ std. **binary**: every observed pair counts 1 (implicit).")


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
    refused = start_load(name, read, fitted_preparation(), label=label)
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


def fitted_preparation():
    """prepare_for(raw) -> (PrepOptions, adopt) for a background load: the form's preparation as
    it is now, fitted to the new data in the load's thread; ``adopt()`` runs when the session
    takes the data (before the page is drawn), puts the fitted settings into the form and says
    what changed."""
    chosen = dict(ss.get("prep", {}))
    current = ss.prepared.opts if "prepared" in ss else PrepOptions()

    def prepare_for(raw):
        fitted, changes = fit_preparation(chosen, current, raw)

        def adopt() -> None:
            # Only what was reset for the new data: the form may have changed during the load.
            reset = {k: v for k, v in fitted.items() if chosen.get(k) != v}
            ss.prep = {**ss.get("prep", {}), **reset}
            for key, value in reset.items():
                ss[f"f_{key}"] = value
            for text in changes:
                notice(text)
        return prep_options(fitted, current), adopt
    return prepare_for


def fit_preparation(chosen: dict, current: PrepOptions, raw) -> tuple[dict, list[str]]:
    """The form's settings ``chosen`` for the previous data, with those that do not carry over
    to ``raw`` reset, and what was reset in words.

    A transform chosen by hand goes back to automatic (log1p chosen for play counts would
    distort ratings); the time split needs times.
    """
    p, changes = dict(chosen), []
    transform = p.get("transform", "auto")
    if transform != "auto":
        p["transform"] = "auto"
        changes.append(f"New data: the transform is back to **automatic**, here "
                       f"{default_transform(raw)} (you had chosen {transform} for the previous "
                       "data).")
    if p.get("split", current.split) == "time" and raw.times is None:
        p["split"] = "random"
        changes.append("New data: these rows have no times, so the split is back to "
                       "**random** (the time split needs a timestamp column).")
    return p, changes


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
                       value_col=o.get("value_col") or None, time_col=o.get("time_col") or None,
                       table=o.get("table") or None)


def prep_options(p: dict | None = None, cur: PrepOptions | None = None) -> PrepOptions:
    """The preparation of the form's settings ``p`` (default: the session's) over ``cur`` (the
    current dataset's)."""
    if cur is None:
        cur = ss.prepared.opts if "prepared" in ss else PrepOptions()
    if p is None:
        p = ss.get("prep", {})
    split = p.get("split", cur.split)
    # The transform as chosen ('auto' follows each new dataset), not as last applied; the
    # test part only with whole users (the playlist study's 70/15/15), which the form lacks.
    return PrepOptions(transform=p.get("transform", "auto"),
                       min_user=int(p.get("min_user", cur.min_user)),
                       min_item=int(p.get("min_item", cur.min_item)), split=split,
                       val_frac=float(p.get("val_frac", cur.val_frac)),
                       test_frac=cur.test_frac if split == "user" == cur.split else 0.0,
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
        c1, c2, c3, c4, c5 = st.columns(5)
        c1.text_input("User column", help="CSV/TSV/Parquet/SQLite: the user id column "
                      "(guessed when empty).", **persisted("load", "user_col", ""))
        c2.text_input("Item column", help="The song, track or movie id column.",
                      **persisted("load", "item_col", ""))
        c3.text_input("Value column", help="Play count or rating; empty: the third column, "
                      "or none (every value 1) in a two-column file.",
                      **persisted("load", "value_col", ""))
        c4.text_input("Time column", help="CSV/TSV: each row's time (e.g. Unix seconds), for "
                      "the time split. Empty: a column named timestamp or time, or the fourth "
                      "of MovieLens' user, item, rating, time.",
                      **persisted("load", "time_col", ""))
        c5.text_input("SQLite table", help="The table holding the pairs (SQLite only).",
                      **persisted("load", "table", ""))


def sources() -> None:
    st.subheader("Load data")
    # Keyed: the chosen tab stays chosen across reruns (a load, an error shown above it).
    t_builtin, t_upload, t_server = st.tabs(
        SOURCE_TABS, key="w_source_tab", default=ss.get("source_tab"),
        on_change=lambda: ss.update(source_tab=ss.w_source_tab))
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
        if not root.is_dir():
            st.warning(f"The server has no data folder: `{root}` does not exist. Ask whoever "
                       "runs the server to create it or to set `MFX_DATA_DIR` to a folder that "
                       "holds the datasets.", icon=":material/folder_off:")
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


def preparation() -> None:
    st.subheader("Prepare and split")
    cur = ss.prepared.opts
    words = nouns(ss.prepared.display.kind)
    with st.form("prep_form", border=True):
        c1, c2, c3 = st.columns(3)
        transforms = list(TRANSFORM_LABELS)
        chosen = ss.get("prep", {}).get("transform", "auto")
        c1.selectbox("Transform of the values", transforms, index=transforms.index(chosen),
                     format_func=lambda t: TRANSFORM_LABELS[t] + (
                         f" (here {cur.transform})" if t == "auto" else ""), key="f_transform",
                     help=TRANSFORM_HELP)
        c2.number_input(f"Min {words['items']} per user", 1, 10_000, value=cur.min_user,
                        key="f_min_user", help=f"Users with fewer {words['items']} are dropped "
                        f"(repeated with the {words['item']} filter until both hold).")
        c3.number_input(f"Min {words['fans']} per {words['item']}", 1, 100_000,
                        value=cur.min_item, key="f_min_item",
                        help=f"{words['items'].capitalize()} with fewer {words['fans']} are "
                             "dropped.")
        c1, c2, c3 = st.columns(3)
        # The time split only for data with times (MovieLens' timestamp column).
        splits = [k for k in SPLIT_LABELS if k != "time" or ss.raw.times is not None]
        c1.selectbox("Split", splits, index=splits.index(cur.split) if cur.split in splits else 0,
                     format_func=SPLIT_LABELS.get, key="f_split", help=SPLIT_HELP)
        c2.slider("Validation fraction", 0.05, 0.5, value=float(cur.val_frac), step=0.05,
                  key="f_val_frac")
        c3.number_input("Split seed", 0, 2**31 - 1, value=cur.seed, key="f_seed",
                        help="Seeds the random and hold-out splits (the time split needs none).")
        st.form_submit_button("Apply", on_click=_submit_prep, icon=":material/tune:")
    if ss.get("prep_error"):
        st.error(ss.prep_error, icon=":material/error:")


def _submit_prep() -> None:
    ss.prep = {"transform": ss.f_transform, "min_user": ss.f_min_user,
               "min_item": ss.f_min_item, "split": ss.f_split, "val_frac": ss.f_val_frac,
               "seed": ss.f_seed}
    apply_preparation()


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

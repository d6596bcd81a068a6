"""Recommend: a listener's top songs, a song's fans and neighbours, a new listener, a song map."""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from mfcore.report import item_map_2d
from mfcore.report import song_map as song_map_figure
from ui.pickers import pick_song, pick_songs
from ui.session import Bundle
from ui.text import error_text, nouns, plural
from ui.widgets import persisted

ss = st.session_state
MAX_CHOICES = 20_000      # listeners in the searchable selectbox before we ask for an exact id
MAP_POINTS = 4000


def no_model() -> None:
    st.info("No model yet in this session. Train one first: it takes a few seconds on the "
            "built-in data.", icon=":material/info:")
    st.page_link("pages/train_page.py", label="Go to Train", icon=":material/model_training:")


COLUMNS = {
    "rank": st.column_config.NumberColumn("#", width=40),
    "song": st.column_config.TextColumn("song", width="large"),
    "song id": st.column_config.TextColumn("song id", width=150),
    "user": st.column_config.TextColumn("user", width="medium"),
    "score": st.column_config.NumberColumn("score", format="%.3f", width=70),
    "cosine": st.column_config.NumberColumn("cosine", format="%.3f", width=70),
    "plays": st.column_config.NumberColumn("plays", format="%d", width=60),
    "rating": st.column_config.NumberColumn("rating", format="%g", width=60),
    "in": st.column_config.TextColumn("in", width=80, help="Training or validation row"),
    "already played": st.column_config.CheckboxColumn("played", width=60),
    "plays of this song": st.column_config.NumberColumn("plays of it", format="%d", width=80),
}


def show_table(df: pd.DataFrame, key: str) -> None:
    st.dataframe(df, hide_index=True, width="stretch", key=key,
                 column_config={c: COLUMNS[c] for c in df.columns if c in COLUMNS})


def song_table(prepared, idx: np.ndarray, extra: dict) -> pd.DataFrame:
    data = prepared.display
    df = pd.DataFrame({"rank": np.arange(1, len(idx) + 1), "song": prepared.item_names[idx]})
    for name, values in extra.items():
        df[name] = values
    df["song id"] = [str(s) for s in data.item_ids[idx]]  # last: the table may scroll sideways
    return df


def pick_user(prepared) -> int | None:
    data, counts = prepared.display, prepared.user_counts
    order = prepared.users_by_activity[:MAX_CHOICES]
    c1, c2 = st.columns([3, 1])
    user = c1.selectbox(
        "Listener", order, key="rec_user",
        format_func=lambda u: f"{prepared.user_names[u]} · "
                              f"{plural(int(counts[u]), nouns(data.kind)['item'])}",
        help="Type to search the names or raw ids (most active first)."
             + (f" Only the {MAX_CHOICES:,} most active are listed; type any id on the right."
                if len(counts) > MAX_CHOICES else ""))
    typed = c2.text_input("…or exact user id", key="rec_user_typed") \
        if len(counts) > MAX_CHOICES else ""
    if typed:
        idx = int(data.user_index([typed])[0])
        if idx < 0:
            st.warning(f"No user with id {typed!r}.")
            return None
        return idx
    return None if user is None else int(user)


def for_listener(b: Bundle) -> None:
    from mfcore.recommend import played, recommend
    data = b.prepared.display
    train = b.prepared.train
    user = pick_user(b.prepared)
    if user is None:
        return
    c1, c2 = st.columns([1, 2])
    n = c1.slider("How many songs", 5, 50, **persisted("rec", "n", 10))
    hide_seen = c2.toggle("Hide songs the listener already played (in training)",
                          **persisted("rec", "hide_seen", True))
    items, scores = recommend(b.model, user, n=n, exclude=train if hide_seen else None)
    played_items, played_counts = played(data, user)
    seen = set(played_items.tolist())
    in_train = set(played(train, user)[0].tolist())
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown(f"**Top {len(items)} recommendations**")
        extra = {"score": np.round(scores, 4)}
        if not hide_seen:
            extra["already played"] = [i in seen for i in items.tolist()]
        show_table(song_table(b.prepared, items, extra), "tbl_rec")
    with right:
        words = nouns(data.kind)
        value = "rating" if data.kind == "ratings" else "plays"
        st.markdown(f"**What they {'rated' if value == 'rating' else 'played'}** · "
                    f"{plural(len(played_items), words['item'])}")
        where = ["training" if i in in_train else "validation" for i in played_items.tolist()]
        show_table(song_table(b.prepared, played_items, {value: played_counts, "in": where}),
                   "tbl_played")
    st.caption("Songs are ranked by b_i + p_u·q_i (μ and b_u do not change the order); ties go "
               "to the lower index. 'Hide' removes the listener's training songs from the "
               "candidates; validation songs stay candidates, so a good model ranks them high. "
               f"{'Ratings' if data.kind == 'ratings' else 'Plays'} are the raw values before "
               "any transform.")


def for_song(b: Bundle) -> None:
    from mfcore.recommend import listeners, similar_items, top_fans
    data = b.prepared.display
    song = pick_song(b.prepared, "song_pick", "Song")
    if song is None:
        return
    n = st.slider("How many", 5, 50, key="song_n", value=10)
    fans, fan_scores = top_fans(b.model, song, n=n, exclude=None)
    sims, cos = similar_items(b.model, song, n=n)
    plays = listeners(data, song)
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("**Top fans**")
        show_table(pd.DataFrame({
            "rank": np.arange(1, len(fans) + 1),
            "user": [str(n) for n in b.prepared.user_names[fans]],  # a playlist's name too
            "score": np.round(fan_scores, 4),
            "plays of this song": [plays.get(u, 0) for u in fans.tolist()],
        }), "tbl_fans")
        st.caption("Users ranked by b_u + p_u·q_i for this song; 0 plays means a predicted fan "
                   "who has not played it yet.")
    with right:
        st.markdown("**Most similar songs**")
        show_table(song_table(b.prepared, sims, {"cosine": np.round(cos, 4)}), "tbl_similar")
        st.caption("Cosine similarity of the song factors q_i · q_j / (‖q_i‖ ‖q_j‖).")


def new_listener(b: Bundle) -> None:
    from mfcore.recommend import recommend_folded
    chosen = pick_songs(b.prepared, "fold_items", "Songs the new listener likes")
    n = st.slider("How many", 5, 50, key="fold_n", value=10)
    if not chosen:
        st.caption("Pick a few songs: recommendations appear at once, without retraining.")
        return
    items, scores = recommend_folded(b.model, np.asarray(chosen, dtype=np.int64), n=n)
    show_table(song_table(b.prepared, items, {"score": np.round(scores, 4)}), "tbl_fold")
    st.caption("Fold-in: the listener's vector solves p = (YᵀY + λI)⁻¹ Yᵀt with Y the chosen "
               "songs' factors and t their targets (biased: [p, b_u] with t − μ − b_i); then "
               "songs are ranked as for a trained user, the chosen ones excluded.")


def song_map(b: Bundle) -> None:
    counts = b.prepared.item_counts
    idx, coords, explained = b.derived(  # an SVD: once per model, not on every rerun
        "song_map", lambda: item_map_2d(b.model.item_factors_, MAP_POINTS, counts))
    labels = b.prepared.item_names[idx].tolist()
    chosen = set(ss.get("fold_items", []) or [])
    pos = {int(i): p for p, i in enumerate(idx)}
    highlight = np.array([pos[i] for i in chosen if i in pos], dtype=np.int64)
    st.plotly_chart(song_map_figure(coords, counts[idx], labels, explained, highlight),
                    key="fig_map", width="stretch")
    shown = f"the {len(idx):,} most popular of {len(counts):,} songs" \
        if len(idx) < len(counts) else f"all {len(counts):,} songs"
    st.caption(f"Each dot is a song's factor vector q_i projected on the first two principal "
               f"components (PCA of the centred factors); {shown}. Colour = log₁₀ of "
               "its listeners. Songs liked by the new listener are circled.")


def page() -> None:
    st.title("Recommend")
    b: Bundle | None = ss.get("bundle")
    if b is None:
        st.caption("Top songs for a listener, fans and neighbours of a song, recommendations for a "
                   "new listener, and a map of the songs.")
        no_model()
        return
    st.caption(f"Model: {b.label} · {plural(len(b.history), 'epoch')} ({b.status})")
    if b.prepared is not ss.get("prepared"):
        st.caption(":material/info: The Data page now holds another dataset or preparation; "
                   "this page uses the data this model was trained on.")
    tabs = st.tabs(["For a listener", "For a song", "New listener", "Song map"])
    sections = (for_listener, for_song, new_listener, song_map)
    for tab, section in zip(tabs, sections):
        with tab:
            try:
                section(b)
            except Exception as exc:  # noqa: BLE001 - show, never a traceback
                st.error(f"Could not compute this view: {error_text(exc)}",
                         icon=":material/error:")


page()

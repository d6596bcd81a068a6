"""The Data page's view of the session's dataset: its sizes, what its values are, how it looks.

Every word follows the kind of data (:attr:`mfcore.interactions.Interactions.kind`): MovieLens
ratings are called ratings and plotted as a rating distribution, play counts plays, playlists
entries (:data:`ui.text.NOUNS`).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from mfcore.report import long_tail, value_distribution
from mfcore.train import memory_estimate

from .hparams import KIND_TEXT
from .text import human_bytes, nouns, plural

ss = st.session_state


def metadata_coverage(data) -> tuple[int, int] | None:
    """``(items with a title, items)`` when the data have metadata, else None."""
    meta = data.item_meta
    if meta is None or "title" not in meta.columns:
        return None
    titled = meta["title"].reindex(data.item_ids).notna().to_numpy()
    return int(np.count_nonzero(titled)), data.n_items


def dataset_facts(raw, prepared) -> list[str]:
    """What the page says about the data beyond its sizes: the kind of values and what the
    defaults do with it, metadata coverage, the time column, columns left unread, repeats."""
    d = prepared.display
    words = nouns(d.kind)
    facts = []
    if len(d.values):
        lo, hi = float(d.values.min()), float(d.values.max())
        rng = f"{lo:g} to {hi:g}" if lo != hi else f"all {lo:g}"
        facts.append(f"Values: **{KIND_TEXT.get(d.kind, d.kind)}** ({rng}); transform "
                     f"**{prepared.opts.transform}** (the automatic choice trains 1–5 ratings as "
                     "they are, takes log(1 + count) of play counts).")
    cover = metadata_coverage(d)
    if cover is not None:
        n, total = cover
        facts.append(f"Titles and artists for {n:,} of {plural(total, words['item'])} "
                     f"({n / max(total, 1):.1%}); the others are shown by their id.")
    if raw.times is not None:
        col = raw.extra.get("time_column")
        facts.append(f"Each row has a time{f' (`{col}`)' if col else ''}: the **time split** "
                     "(train on each user's earlier rows, validate on the later ones) is offered "
                     "below.")
    unused = raw.extra.get("unused_columns") or []
    if unused:
        facts.append("Columns not read: " + ", ".join(f"`{c}`" for c in unused) + ".")
    if d.implicit:
        repeated = int(np.count_nonzero(d.values > 1))
        facts.append("Presence-only data: every value is 1." if not repeated else
                     f"Presence-only data: {plural(repeated, 'pair')} "
                     f"{'has' if repeated == 1 else 'have'} a value above 1, "
                     f"a {words['item']} listed more than once by the same user or playlist "
                     "(repeated rows summed; choose 'max' for repeated rows under Loading "
                     "options to count each pair once).")
    return facts


def summary() -> None:
    prepared = ss.prepared
    d = prepared.display
    raw = ss.raw
    words = nouns(d.kind)
    st.subheader("Current dataset")
    st.caption(ss.get("dataset_label", d.source))
    c = st.columns(5)
    c[0].metric("Users", f"{d.n_users:,}")
    c[1].metric(words["items"].capitalize(), f"{d.n_items:,}")
    c[2].metric("Interactions", f"{len(d):,}", help=f"User–{words['item']} pairs: "
                f"{words['values']}.")
    c[3].metric("Density", f"{d.density:.3%}", help=f"interactions / (users × {words['items']})")
    c[4].metric("Duplicates merged", f"{raw.n_duplicates_merged:,}",
                help=f"Rows with a (user, {words['item']}) pair already seen, folded into it by "
                     "the 'repeated rows' policy.")
    removed = prepared.info.get("rows_removed_by_filters", 0)
    sp = prepared.split
    cold = sp.info.get("n_cold_users", 0), sp.info.get("n_cold_items", 0)
    parts = [f"training rows **{len(sp.train):,}**",
             f"validation rows **{len(sp.val) if sp.val is not None else 0:,}**"]
    if removed:
        parts.append(f"filters removed {plural(removed, 'row')} "
                     f"({plural(prepared.info['users_removed'], 'user')}, "
                     f"{plural(prepared.info['items_removed'], words['item'])})")
    if any(cold):
        parts.append(f"cold in validation: {plural(cold[0], 'user')}, "
                     f"{plural(cold[1], words['item'])} (no training rows; their predictions use "
                     "the biases only)")
    st.markdown(" · ".join(parts))
    st.markdown("  \n".join(dataset_facts(raw, prepared)))
    k = int(ss.hp.get("factors", 32))
    need = memory_estimate(d.n_users, d.n_items, len(sp.train), k,
                           bool(ss.hp.get("early_stopping")))
    st.markdown(f":material/memory: With **k = {k}** latent factors (set on the Train page) "
                f"training needs about **{human_bytes(need)}** for factors, biases, a snapshot "
                f"and the visit order, plus **{human_bytes(d.nbytes())}** for the loaded rows.")


DISTRIBUTION_TEXT = {
    "ratings": "How many ratings have each value (raw ratings, before any transform).",
    "counts": "How many user–song pairs have each play count (raw values, before the "
              "transform; log scale).",
    "binary": "How many user–track pairs have each value (1 = listed once; log scale).",
}


def looks() -> None:
    d = ss.prepared.display
    words = nouns(d.kind)
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(value_distribution(d.values, d.kind), key="fig_values", width="stretch")
        st.caption(DISTRIBUTION_TEXT.get(d.kind, DISTRIBUTION_TEXT["counts"]))
    with c2:
        st.plotly_chart(long_tail(d.item_counts(), item=words["item"], fans=words["fans"]),
                        key="fig_tail", width="stretch")
        st.caption(f"Popularity of a {words['item']} = number of {words['fans']} with at least "
                   f"one row of it. A few {words['items']} are everywhere; most are rare "
                   "(log–log scale).")
    st.markdown("**Preview**")
    rows = first_rows(d, 200)
    n = len(rows)
    preview = pd.DataFrame({
        "user": [str(u) for u in d.user_ids[d.users[rows]]],
        f"{words['item']} id": [str(i) for i in d.item_ids[d.items[rows]]],
    })
    if d.item_meta is not None and len(d.item_meta):
        meta = d.item_meta.reindex(d.item_ids[d.items[rows]])
        for col in ("title", "artist"):
            if col in meta:
                preview[col] = meta[col].astype("string").to_numpy()
    preview[{"ratings": "rating", "counts": "plays"}.get(d.kind, "value")] = d.values[rows]
    if d.times is not None:
        t = d.times[rows]
        unix = len(t) and 1e8 < float(t.min()) and float(t.max()) < 4e9  # 1973 to 2096
        preview["time"] = pd.to_datetime(t, unit="s") if unix else t
    st.dataframe(preview, hide_index=True, width="stretch", height=260)
    st.caption(f"The first {n:,} of {len(d):,} rows (sorted by user); names come from the "
               "metadata when the dataset has it.")


def first_rows(d, n: int) -> np.ndarray:
    """Row numbers of ``d``'s first ``n`` rows in (user, item) order, also when the rows are
    kept as a split arranged them (:attr:`~mfcore.interactions.Interactions.runs`): the first
    ``n`` of each run hold them."""
    if not d.runs:
        return np.arange(min(n, len(d)))
    cand = np.concatenate([np.arange(a, min(b, a + n)) for a, b in zip(d.runs, d.runs[1:])])
    return cand[np.lexsort((d.items[cand], d.users[cand]))[:n]]

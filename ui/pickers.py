"""Song pickers that reach the whole catalogue: a search box answered by the server
(:func:`mfcore.catalogue.search_items`: title, artist or id, most popular first), then a list
of the matches. Every option names the title, the artist and the id, so two songs with the same
title never look alike, and no "select all matches" option can add songs nobody chose.
"""
from __future__ import annotations

import numpy as np
import streamlit as st

from mfcore.catalogue import search_items

from .text import nouns, plural

#: Matches listed under the search box.
MATCHES = 50


def option_label(prepared, i: int) -> str:
    """``"The Unforgiven — Metallica · SOXXXX · 13 listeners"`` (the id alone when the song has
    no name)."""
    name = prepared.item_names[i]
    item_id = str(prepared.display.item_ids[i])
    words = nouns(prepared.display.kind)
    shown = name if name == item_id else f"{name} · {item_id}"
    return f"{shown} · {plural(int(prepared.item_counts[i]), words['fan'], words['fans'])}"


def song_search(prepared, key: str, label: str) -> np.ndarray:
    """A search box over every item; the matching items, most popular first (at most
    :data:`MATCHES`), with a line saying how many matched."""
    words = nouns(prepared.display.kind)
    query = st.text_input(label, key=f"{key}_query", type="search", live=True,
                          placeholder="Title, artist or id…",
                          help=f"Searches all {plural(prepared.display.n_items, words['item'])} "
                               "on the server: every word must appear in the title, the artist "
                               "or the id.")
    matches, n = search_items(prepared.item_search_keys, query or "",
                              prepared.items_by_popularity, limit=MATCHES)
    total = prepared.display.n_items
    if not (query or "").strip():
        st.caption(f"The {min(MATCHES, total):,} most popular of "
                   f"{plural(total, words['item'])} are listed; type to search them all.")
    elif n == 0:
        st.caption(f"No {words['item']} matches “{query}”.")
    else:
        st.caption(f"{plural(n, words['item'])} {'matches' if n == 1 else 'match'} “{query}”"
                   + (f"; the {MATCHES} most popular are listed." if n > MATCHES else "."))
    return matches


def pick_song(prepared, key: str, label: str) -> int | None:
    """One song: search, then choose among the matches (the first is preselected)."""
    matches = song_search(prepared, key, f"Search {label.lower()}s")
    if not len(matches):
        return None
    song = st.selectbox(label, matches.tolist(), key=key,
                        format_func=lambda i: option_label(prepared, i))
    return None if song is None else int(song)


def pick_songs(prepared, key: str, label: str, max_selections: int = 200) -> list[int]:
    """Several songs: each search's matches are offered beside the songs already chosen, which
    stay chosen whatever is searched next."""
    ss = st.session_state
    chosen = [int(i) for i in ss.get(key, []) or []]
    matches = song_search(prepared, key, "Search songs to add")
    options = chosen + [int(i) for i in matches if int(i) not in set(chosen)]
    picked = st.multiselect(label, options, key=key, max_selections=max_selections,
                            format_func=lambda i: option_label(prepared, i),
                            placeholder="Pick from the matches…", select_all=False)
    return [int(i) for i in picked]

"""Song pickers search the whole catalogue on the server (title, artist or id), offer no
"select all matches" pseudo-option, and tell identical titles apart by artist and id."""
from __future__ import annotations

import numpy as np

from mfcore.catalogue import search_items, search_keys
from ui.testing import assert_clean, open_app, page_file, train, wait_for_load

N_SONGS = 6000  # beyond the 5,000 most popular songs the old pickers offered
TARGET = f"S{N_SONGS - 1:05d}"


def catalogue() -> tuple[bytes, bytes]:
    """Triplets where the target song (the least popular) has one listener, and metadata
    with two songs titled "Intro" by different artists."""
    rows = []
    for j in range(N_SONGS):
        users = range(0, 300, 7) if j < 50 else [j % 300]
        rows += [f"u{u}\tS{j:05d}\t{12 + (u + j) % 30}" for u in users]
    meta = ["song_id,title,artist_name"] + [f"S{j:05d},Song {j},Band {j % 97}"
                                            for j in range(N_SONGS - 1)]
    meta[1 + 10], meta[1 + 11] = "S00010,Intro,Alpha", "S00011,Intro,Beta"
    meta.append(f"{TARGET},The Unforgiven,Metallica")
    return "\n".join(rows).encode(), "\n".join(meta).encode()


def test_search_finds_any_word_order_and_ids_first():
    names = np.array(["The Unforgiven — Metallica", "Forgiven — Other", "Intro — Alpha"],
                     dtype=object)
    keys = search_keys(names, np.array(["S1", "S2", "S3"]))
    order = np.array([2, 1, 0])
    found, n = search_items(keys, "metallica UNFORGIVEN", order)
    assert found.tolist() == [0] and n == 1
    assert search_items(keys, "forgiven", order)[0].tolist() == [1, 0]  # popularity order
    assert search_items(keys, "s3", order)[0].tolist() == [2]
    assert search_items(keys, "", order, limit=2)[0].tolist() == [2, 1]
    assert search_items(keys, "nothing", order)[1] == 0


def test_pickers_reach_the_whole_catalogue_and_tell_twins_apart():
    plays, meta = catalogue()
    at = open_app("data")
    at.file_uploader(key="w_upload").set_value(("plays.tsv", plays, "text/plain"))
    at.file_uploader(key="w_upload_meta").set_value(("songs.csv", meta, "text/csv"))
    at.run()
    at.button(key="btn_upload").click().run()
    wait_for_load(at)
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["prepared"].display.n_items == N_SONGS
    train(at, epochs=2, factors=4)
    at.switch_page(page_file("recommend")).run()
    assert_clean(at)
    at.text_input(key="song_pick_query").input("unforgiven METALLICA").run()
    pick = at.selectbox(key="song_pick")
    assert pick.options == [f"The Unforgiven — Metallica · {TARGET} · 1 listener"]
    assert len(at.dataframe[2].value) == 10  # its top fans
    # New listener: search, pick, search again; the chosen songs stay.
    at.text_input(key="fold_items_query").input("intro").run()
    box = at.multiselect(key="fold_items")
    twins = [o for o in box.options if o.startswith("Intro")]
    assert twins == ["Intro — Alpha · S00010 · 43 listeners",
                     "Intro — Beta · S00011 · 43 listeners"]
    assert not box.proto.select_all  # no "Select N matches" option
    at.multiselect(key="fold_items").set_value([10, 11]).run()
    at.text_input(key="fold_items_query").input(TARGET).run()
    box = at.multiselect(key="fold_items")
    assert box.value == [10, 11] and any(TARGET in o for o in box.options)
    at.multiselect(key="fold_items").set_value([10, 11, N_SONGS - 1]).run()
    assert_clean(at)
    assert len(at.dataframe[4].value) == 10  # recommendations for the three songs

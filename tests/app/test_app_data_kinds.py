"""Data page: the words and figures follow the kind of data (MovieLens ratings are ratings, with
a time split), a new dataset says what it changed, and the small things (the chosen tab, a
missing data folder, metadata coverage, repeats in playlists, "1 user")."""
from __future__ import annotations

import json

import pytest

from ui.testing import assert_clean, open_app, page_file, set_number, train, wait_for_load

# MovieLens' u.data layout: user, item, rating 1–5, Unix time; no header.
U_DATA = "".join(f"{u}\t{i}\t{(u * i) % 5 + 1}\t{880000000 + 1000 * u + i}\n"
                 for u in range(1, 41) for i in range(1, 31) if (u + i) % 3)


@pytest.fixture
def data_folder(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    (root / "u.data").write_text(U_DATA)
    (root / "plays.tsv").write_text("".join(f"user{u}\tS{j}\t{20 + u + j}\n"
                                            for u in range(20) for j in range(8)))
    playlists = [{"pid": p, "name": f"list {p}", "tracks": [
        {"track_uri": f"spotify:track:{t}", "track_name": f"T{t}", "artist_name": "A"}
        for t in ([p, p + 1, p + 2] + ([p] if p == 0 else []) if p < 6 else [100, 101])]}
        for p in range(7)]
    (root / "mpd.slice.0-999.json").write_text(json.dumps({"playlists": playlists}))
    monkeypatch.setenv("MFX_DATA_DIR", str(root))
    return root


def load_server(at, path: str) -> None:
    at.text_input(key="w_server_path").input(path)
    at.run()
    at.button(key="btn_server").click().run()
    wait_for_load(at)
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]


def text(at) -> str:
    return " ".join(m.value for m in at.markdown) + " " + " ".join(c.value for c in at.caption)


def test_movielens_ratings_are_ratings_with_a_time_split(data_folder):
    at = open_app("data")
    load_server(at, "u.data")
    prepared = at.session_state["prepared"]
    assert prepared.display.kind == "ratings" and prepared.opts.transform == "none"
    assert "Values: **ratings** (1 to 5); transform **none**" in text(at)
    assert "Each row has a time (`column 4`)" in text(at)
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert spec["layout"]["title"]["text"] == "Rating distribution"
    assert spec["data"][0]["x"] == [1, 2, 3, 4, 5]  # one bar per rating, counts not logged
    assert spec["layout"]["yaxis"].get("type") != "log"
    preview = at.dataframe[0].value
    assert {"rating", "time", "item id"} <= set(preview.columns) and "plays" not in preview
    assert "plays" not in at.sidebar.markdown[0].value and "ratings" in at.sidebar.markdown[0].value
    assert "By time, per user" in at.selectbox(key="f_split").options
    at.selectbox(key="f_split").set_value("time")
    next(b for b in at.button if b.label == "Apply").click().run()
    assert_clean(at)
    sp = at.session_state["prepared"].split
    assert sp.kind == "time"
    first_val = {}
    for u, t in zip(sp.val.users, sp.val.times):
        first_val[u] = min(t, first_val.get(u, t))
    assert all(t < first_val[u] for u, t in zip(sp.train.users, sp.train.times) if u in first_val)


def test_a_new_dataset_says_what_it_changed(data_folder):
    at = open_app("train")
    set_number(at, "w_hp_factors", 12)
    at.run()
    at.switch_page(page_file("data")).run()
    at.selectbox(key="f_transform").set_value("standardize")
    next(b for b in at.button if b.label == "Apply").click().run()
    assert at.session_state["prepared"].opts.transform == "standardize"
    load_server(at, "u.data")
    said = " ".join(i.value for i in at.info)
    assert "transform is back to **automatic**, here none (you had chosen standardize" in said
    assert "The data now hold **ratings** (before: play counts)" in said
    assert "solver ALS → SGD" in said and "epochs 15 → 20" in said
    assert "Kept as you set them: k 12" in said
    assert at.session_state["prepared"].opts.transform == "none"
    assert at.selectbox(key="f_transform").value == "auto"
    # The time split chosen for MovieLens cannot follow to data without times: said too.
    at.selectbox(key="f_split").set_value("time")
    next(b for b in at.button if b.label == "Apply").click().run()
    load_server(at, "plays.tsv")
    said = " ".join(i.value for i in at.info)
    assert "split is back to **random**" in said and "The data now hold **play counts**" in said
    assert at.session_state["prepared"].split.kind == "random"
    at.switch_page(page_file("train")).run()  # the notices were shown once, on the Data page
    assert not any("The data now hold" in i.value for i in at.info)
    assert at.number_input(key="w_hp_factors").value == 12


def test_the_chosen_source_tab_stays_after_a_load(data_folder):
    at = open_app("data")
    at.session_state["w_source_tab"] = "File on the server"
    at.run()
    load_server(at, "plays.tsv")
    at.run()
    assert at.session_state["w_source_tab"] == "File on the server"


def test_missing_data_folder_is_said_on_the_server_tab(tmp_path, monkeypatch):
    monkeypatch.setenv("MFX_DATA_DIR", str(tmp_path / "nowhere"))
    at = open_app("data")
    assert any("no data folder" in w.value and "MFX_DATA_DIR" in w.value for w in at.warning)


def test_repeats_in_playlists_metadata_coverage_and_one_user(data_folder):
    at = open_app("data")
    assert "Titles and artists for 1,500 of 1,500 songs (100.0%)" in text(at)
    load_server(at, "mpd.slice.0-999.json")
    said = text(at)
    assert "every value is 1" not in said
    assert "Presence-only data: 1 pair has a value above 1" in said
    at.number_input(key="f_min_item").set_value(2)  # the last playlist's tracks are in no other
    next(b for b in at.button if b.label == "Apply").click().run()
    assert not at.error, [e.value for e in at.error]
    assert "(1 user, 4 tracks)" in text(at)


def test_playlists_are_shown_by_name(data_folder):
    at = open_app("data")
    load_server(at, "mpd.slice.0-999.json")
    at.selectbox(key="f_split").set_value("none")
    next(b for b in at.button if b.label == "Apply").click().run()
    train(at, epochs=2, factors=4)
    at.switch_page(page_file("recommend")).run()
    assert_clean(at)
    assert "list 0 · 0 · 3 tracks" in at.selectbox(key="rec_user").options
    at.text_input(key="song_pick_query").input("spotify:track:3").run()
    fans = at.dataframe[2].value
    assert fans["user"].str.match(r"list \d · \d").all()

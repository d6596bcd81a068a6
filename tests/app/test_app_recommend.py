"""Recommend page: a listener's top-N, a song's fans and neighbours, fold-in, the song map."""
from __future__ import annotations

import json

import numpy as np

import pytest

from ui.testing import assert_clean, open_app, trained_app


@pytest.fixture(scope="module")
def at():
    return trained_app("recommend", epochs=5)


def test_without_model_points_to_train():
    fresh = open_app("recommend")
    assert any("No model yet" in i.value for i in fresh.info)


def test_user_recommendations_next_to_played_songs(at):
    assert not at.error, [e.value for e in at.error]
    rec, played = at.dataframe[0].value, at.dataframe[1].value
    assert len(rec) == 10 and {"rank", "song", "score"} <= set(rec.columns)
    assert "plays" in played.columns and len(played) > 0
    assert " — Synth Artist " in rec["song"].iloc[0]  # names from the metadata
    # seen songs hidden by default: no recommended song was played in training
    trained = played.loc[played["in"] == "training", "song id"]
    assert not set(rec["song id"]) & set(trained)


def test_seen_toggle_and_other_user(at):
    at.toggle(key="w_rec_hide_seen").set_value(False).run()
    rec = at.dataframe[0].value
    assert "already played" in rec.columns
    users = at.selectbox(key="rec_user").options
    at.selectbox(key="rec_user").select_index(5).run()
    assert_clean(at)
    assert not at.error
    assert at.selectbox(key="rec_user").value is not None and len(users) == 3000


def test_song_fans_and_similar(at):
    fans, similar = at.dataframe[2].value, at.dataframe[3].value
    assert len(fans) == 10 and "plays of this song" in fans.columns
    assert len(similar) == 10 and similar["cosine"].between(-1.0001, 1.0001).all()


def test_new_listener_fold_in_and_map(at):
    opts = at.session_state["bundle"].prepared.display.item_counts().argsort()[::-1][:3]
    at.multiselect(key="fold_items").set_value([int(i) for i in opts]).run()
    assert_clean(at)
    assert not at.error, [e.value for e in at.error]
    fold = at.dataframe[4].value
    assert len(fold) == 10
    spec = json.loads(at.get("plotly_chart")[-1].proto.spec)
    assert spec["data"][0]["type"] == "scattergl" and len(spec["data"][0]["text"]) == 1500
    assert len(spec["data"]) == 2  # the chosen songs are circled on the map


def test_item_names_match_the_engine_labels():
    from mfcore.prepare import PrepOptions, prepare
    from ui.session import builtin_dataset
    data = builtin_dataset(n_users=200, n_items=150, n_interactions=3000)
    shown = prepare(data, PrepOptions(min_item=20)).display  # filtered: fewer songs
    assert 0 < shown.n_items < data.n_items
    assert list(prepare(data, PrepOptions(min_item=20)).item_names) == \
        shown.item_labels(np.arange(shown.n_items))

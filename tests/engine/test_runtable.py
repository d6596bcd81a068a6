"""Runs that compare: every setting as a column, the data named apart, who made a run, notes and
tags, deletes limited to one's own runs, and why overlaid runs do not share their rows."""
from __future__ import annotations

import sqlite3
from dataclasses import replace

import pandas as pd
import pytest

from mfcore.errors import ConfigError
from mfcore.load.synthetic import generate
from mfcore.prepare import PrepOptions, prepare
from mfcore.runs import score_run
from mfcore.runstore import APPLICATION_ID, HistoryError, RunHistory, cli_owner
from mfcore.runtable import (PARAM_COLUMNS, PREP_COLUMNS, data_differences, owner_label,
                             tag_list)
from mfcore.train import MFModel
from mfcore.train.presets import HYPERPARAMETERS

SMALL = generate(60, 40, 600, shape="msd", seed=1)
BIG = generate(200, 40, 1500, shape="msd", seed=1)  # the same source name, other data


def scored(data=SMALL, *, opts: PrepOptions | None = None, **params):
    prepared = prepare(data, opts)
    model = MFModel(**{"factors": 4, "epochs": 2, **params}).fit(prepared.train, prepared.val)
    return score_run(model, prepared)


@pytest.fixture
def db(tmp_path) -> RunHistory:
    return RunHistory(tmp_path / "runs.sqlite")


def test_every_hyperparameter_and_preparation_option_is_a_column(db, tmp_path):
    assert HYPERPARAMETERS <= set(PARAM_COLUMNS) | {"factors", "epochs", "lr", "reg"}
    rid = db.record(scored(solver="sgd", neg_ratio=2.0, biased=False, lr=0.02,
                           opts=PrepOptions(transform="none", split="holdout", val_frac=0.25,
                                            seed=7)), source="cli")
    row = db.list_runs().set_index("id").loc[rid]
    assert (row["solver"], row["neg_ratio"], row["biased"], row["lr"]) == ("sgd", 2.0, False,
                                                                           0.02)
    assert (row["transform"], row["split"], row["val_frac"], row["split_seed"]) == (
        "none", "holdout", 0.25, 7)
    assert row["alpha"] is None  # an SGD run has no ALS confidence
    assert (row["n_users"], row["n_items"]) == (SMALL.n_users, SMALL.n_items)
    db.export_csv(tmp_path / "runs.csv")
    csv = pd.read_csv(tmp_path / "runs.csv")
    for column in ("solver", "neg_ratio", "biased", "transform", "split", "val_frac",
                   "n_users", "n_interactions", "fingerprint", "owner", "note", "tags", "data"):
        assert column in csv.columns, column
    assert csv.loc[0, "transform"] == "none" and csv.loc[0, "neg_ratio"] == 2.0


def test_two_datasets_of_one_source_read_apart_and_are_flagged_when_overlaid(db):
    a = db.record(scored(SMALL), source="app")
    b = db.record(scored(BIG), source="app")
    frame = db.list_runs().set_index("id")
    assert frame.loc[a, "dataset"] == frame.loc[b, "dataset"] == "synthetic:msd"
    assert "60 users" in frame.loc[a, "data"] and "200 users" in frame.loc[b, "data"]
    assert frame.loc[a, "data"] != frame.loc[b, "data"]
    (msg,) = [m for m in data_differences(frame.reset_index()) if "datasets" in m]
    assert f"#{a}" in msg and f"#{b}" in msg and "200 users" in msg


def test_the_same_data_prepared_otherwise_is_flagged_and_identical_runs_are_not(db):
    a = db.record(scored(opts=PrepOptions(transform="log1p")), source="app")
    b = db.record(scored(opts=PrepOptions(transform="none")), source="app")
    c = db.record(scored(opts=PrepOptions(transform="none"), seed=3), source="app")
    frame = db.list_runs()
    assert data_differences(frame[frame["id"].isin([b, c])]) == []
    diffs = data_differences(frame[frame["id"].isin([a, b, c])])
    assert diffs == [f"transform: none (runs #{c}, #{b}), log1p (run #{a})"]


def test_who_made_a_run_is_recorded(db):
    cli = db.record(scored(), source="cli")
    mine = RunHistory(db.path, owner="session:abc").record(scored(), source="app")
    frame = db.list_runs().set_index("id")
    assert frame.loc[cli, "owner"] == cli_owner() and cli_owner().startswith("user:")
    assert frame.loc[mine, "owner"] == "session:abc"
    assert list(db.list_runs(owner="session:abc")["id"]) == [mine]
    assert owner_label("session:abc", "session:abc") == "you"
    assert owner_label("session:xyz", "session:abc") == "another browser session"
    assert owner_label("user:ann") == "command line (ann)"
    assert owner_label(None) == "not recorded"


def test_a_session_deletes_only_its_own_runs_and_the_command_line_any(db):
    session = RunHistory(db.path, owner="session:abc")
    mine = session.record(scored(), source="app")
    theirs = db.record(scored(), source="cli")
    assert session.delete_runs([mine, theirs], only_owner="session:abc") == 1
    assert list(db.list_runs()["id"]) == [theirs]
    assert db.delete_runs([theirs]) == 1 and len(db) == 0


def test_note_and_tags(db):
    session = RunHistory(db.path, owner="session:abc")
    rid = session.record(scored(), source="app")
    session.annotate(rid, note="  baseline for the demo ", tags="demo,  k small ,demo,",
                     only_owner="session:abc")
    row = db.list_runs().iloc[0]
    assert row["note"] == "baseline for the demo" and row["tags"] == "demo, k small"
    assert tag_list(row["tags"]) == ["demo", "k small"] and tag_list(None) == []
    session.annotate(rid, tags=[])  # clears the tags, keeps the note
    row = db.list_runs().iloc[0]
    assert row["note"] == "baseline for the demo" and pd.isna(row["tags"])
    with pytest.raises(HistoryError, match=f"run {rid} was made by someone else"):
        db.annotate(rid, note="mine now", only_owner="session:other")
    db.annotate(rid, note="the command line may")  # full control
    with pytest.raises(ConfigError, match="longer than 40 characters"):
        db.annotate(rid, tags="x" * 41)
    with pytest.raises(ConfigError, match="note has 2,001 characters"):
        db.annotate(rid, note="n" * 2001)
    with pytest.raises(HistoryError, match="no run 999"):
        db.annotate(999, note="x")


def test_a_version_2_history_gains_owners_and_tags(tmp_path):
    from mfcore.runstore_db import _SCHEMA
    path = tmp_path / "v2.sqlite"
    start, end = _SCHEMA.index("    note "), _SCHEMA.index(");", _SCHEMA.index("    note "))
    with sqlite3.connect(path) as conn:
        for stmt in (_SCHEMA[:start] + "    note           TEXT\n" + _SCHEMA[end:]).split(";"):
            if stmt.strip():
                conn.execute(stmt)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 2")
        conn.execute("INSERT INTO runs (created, source, status, params_json, data_json, "
                     "metrics_json) VALUES (1, 'app', 'fitted', '{\"factors\": 4}', '{}', '{}')")
    hist = RunHistory(path, owner="session:abc")
    old = hist.list_runs().iloc[0]
    assert old["owner"] is None and old["solver"] is None and old["transform"] is None
    assert hist.delete_runs([int(old["id"])], only_owner="session:abc") == 0  # nobody's
    rid = hist.record(replace(scored(), status="fitted"), source="app")
    assert hist.list_runs().set_index("id").loc[rid, "owner"] == "session:abc"

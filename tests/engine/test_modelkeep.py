"""The keep-models policy on a real SQLite run history: each session's last N Train-page model
files are kept, pinned ones survive, other owners, the command line and sweeps are never touched,
a pruned run says so when its model is loaded, and a version-3 file gains the column."""
from __future__ import annotations

import sqlite3
from dataclasses import replace

import pandas as pd
import pytest

from mfcore.errors import ConfigError
from mfcore.load.synthetic import generate
from mfcore.modelkeep import (DEFAULT_KEEP, KEEP_ENV, human_bytes, keep_setting, model_labels,
                              model_sizes, policy_text)
from mfcore.prepare import prepare
from mfcore.runs import RunRecord, fit_and_record
from mfcore.runstore import APPLICATION_ID, HistoryError, RunHistory
from mfcore.train import MFModel

ME, YOU = "session:" + "a" * 32, "session:" + "b" * 32
RECORD = RunRecord(status="fitted", params={"factors": 4, "epochs": 1}, data={}, n_users=3,
                   n_items=3)


@pytest.fixture
def path(tmp_path):
    return tmp_path / "hist" / "runs.sqlite"


def saved(hist: RunHistory, *, source: str = "app", size: int = 1000, where=None) -> int:
    """A run of ``hist.owner`` with a model file of ``size`` bytes in the models folder."""
    hist.models_dir.mkdir(parents=True, exist_ok=True)
    file = where or hist.models_dir / f"m{len(hist)}-{hist.owner[-1]}.npz"
    file.write_bytes(b"x" * size)
    return hist.record(replace(RECORD), source=source, model_path=file)


def files_of(hist: RunHistory) -> dict[int, str | None]:
    return {int(r["id"]): r["model_path"] if isinstance(r["model_path"], str) else None
            for _, r in hist.list_runs().iterrows()}


def test_each_owner_keeps_its_last_n_and_nothing_else_is_touched(path):
    me, you, cli = RunHistory(path, owner=ME), RunHistory(path, owner=YOU), RunHistory(path)
    mine = [saved(me) for _ in range(5)]
    yours = [saved(you) for _ in range(4)]
    from_cli = saved(cli, source="cli")
    my_sweep = saved(me, source="sweep")
    before = files_of(me)

    assert me.prune_models(3) == mine[1::-1]  # the two oldest, newest first
    after = files_of(me)
    frame = me.list_runs().set_index("id")
    for rid in mine[:2]:
        assert after[rid] is None and frame.loc[rid, "model_state"] == "pruned"
        assert not pd.io.common.file_exists(before[rid])
    for rid in [*mine[2:], *yours, from_cli, my_sweep]:
        assert after[rid] == before[rid] and pd.io.common.file_exists(before[rid])
    assert len(me) == 11  # the runs stay
    assert me.prune_models(3) == []  # nothing more to do
    assert you.prune_models(1) == yours[2::-1]
    assert files_of(me)[from_cli] is not None  # the command line's run is never pruned


def test_pinned_runs_survive_and_are_not_counted(path):
    me = RunHistory(path, owner=ME)
    runs = [saved(me) for _ in range(4)]
    assert me.pin_models([runs[0]], only_owner=ME) == [runs[0]]
    assert RunHistory(path, owner=YOU).pin_models([runs[1]], only_owner=YOU) == []  # not yours
    assert me.prune_models(1) == [runs[2], runs[1]]
    kept = files_of(me)
    assert kept[runs[0]] and kept[runs[3]] and not kept[runs[1]] and not kept[runs[2]]
    assert me.list_runs().set_index("id").loc[runs[0], "model_state"] == "pinned"
    assert me.pin_models([runs[1]]) == []  # its file is gone: nothing to pin
    assert me.prune_models(0) == [runs[3]]
    assert files_of(me)[runs[0]] is not None  # pinned, even with N = 0
    me.pin_models([runs[0]], pinned=False)  # back under the policy
    assert me.prune_models(0) == [runs[0]]


def test_files_outside_the_models_folder_are_never_deleted(path, tmp_path):
    me = RunHistory(path, owner=ME)
    own = tmp_path / "my-model.npz"
    outside = saved(me, where=own)
    saved(me)
    assert me.prune_models(0) != [] and outside not in me.prune_models(0)
    assert own.exists() and files_of(me)[outside] == str(own.resolve())


@pytest.mark.parametrize("keep", [-1, 2.5, "3", True])
def test_a_bad_keep_is_refused(path, keep):
    with pytest.raises(ConfigError, match="whole number >= 0"):
        RunHistory(path, owner=ME).prune_models(keep)


def test_fit_and_record_applies_the_policy_and_a_pruned_model_says_so(path):
    prepared = prepare(generate(60, 40, 600, shape="ratings", seed=2))
    me = RunHistory(path, owner=ME)

    def train(**kw):
        return fit_and_record(MFModel(factors=2, epochs=1, seed=1), prepared, history=me, **kw)

    first = train(source="app", keep_models=2)
    train(source="app", keep_models=2)
    cli = train(source="cli", keep_models=None)
    third = train(source="app", keep_models=2)
    assert third.pruned == [first.run_id] and cli.pruned == []
    with pytest.raises(HistoryError, match=f"run {first.run_id}'s model was not kept: the "
                                           "dashboard's keep-models policy deleted its file"):
        me.load_model(first.run_id)
    assert me.load_model(third.run_id)[0].params["factors"] == 2
    assert me.load_model(cli.run_id)[0].params["factors"] == 2


def test_sizes_labels_and_the_policy_in_words(path):
    me = RunHistory(path, owner=ME)
    runs = [saved(me, size=2_500_000) for _ in range(3)]
    me.record(replace(RECORD), source="app")  # no model file
    me.pin_models([runs[0]])
    me.prune_models(1)
    frame = me.list_runs()
    assert model_sizes(frame).sum() == 5_000_000
    assert list(model_labels(frame)) == ["none", "2.5 MB", "not kept", "2.5 MB · pinned"]
    assert human_bytes(556_000_000) == "556.0 MB" and human_bytes(999) == "999 B"
    text = policy_text(3)
    assert "last 3 Train-page runs" in text and "Keep this model" in text and KEEP_ENV in text
    assert "keeps no Train-page model file" in policy_text(0)


def test_the_setting_comes_from_the_environment():
    assert keep_setting({}) == (DEFAULT_KEEP, None) == (3, None)
    assert keep_setting({KEEP_ENV: "0"}) == (0, None)
    assert keep_setting({KEEP_ENV: " 7 "}) == (7, None)
    for bad in ("-1", "lots", "2.5"):
        n, problem = keep_setting({KEEP_ENV: bad})
        assert n == DEFAULT_KEEP and f"{KEEP_ENV}={bad!r} is not a whole number" in problem


def test_a_version_3_history_gains_the_model_state(path):
    from mfcore.runstore_db import _SCHEMA
    path.parent.mkdir(parents=True)
    start = _SCHEMA.index("    tags ")
    end = _SCHEMA.index(");", start)
    with sqlite3.connect(path) as conn:
        for stmt in (_SCHEMA[:start] + "    tags TEXT\n" + _SCHEMA[end:]).split(";"):
            if stmt.strip():
                conn.execute(stmt)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 3")
        conn.execute("INSERT INTO runs (created, source, status, params_json, data_json, "
                     f"metrics_json, owner) VALUES (1, 'app', 'fitted', '{{}}', '{{}}', '{{}}', "
                     f"'{ME}')")
    me = RunHistory(path, owner=ME)
    assert me.list_runs().iloc[0]["model_state"] is None
    newer = [saved(me) for _ in range(2)]
    assert me.prune_models(1) == newer[:1]
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 4


def test_the_seen_file_of_a_dataset_goes_with_its_last_model(path):
    me = RunHistory(path, owner=ME)

    def train(seed: int, keep: int):
        prepared = prepare(generate(60, 40, 600, shape="ratings", seed=seed))
        return fit_and_record(MFModel(factors=2, epochs=1, seed=1), prepared, history=me,
                              source="app", keep_models=keep)

    def seen_files():
        return sorted(p.name for p in me.models_dir.glob("seen-*.npz"))

    train(seed=2, keep=2)
    train(seed=2, keep=2)           # the same data: one seen file for both models
    assert len(seen_files()) == 1
    train(seed=3, keep=2)           # other data: its own seen file; one model of seed 2 pruned
    assert len(seen_files()) == 2
    train(seed=3, keep=2)           # the last model of seed 2 pruned: its seen file goes too
    assert len(seen_files()) == 1
    assert me.delete_runs(me.list_runs()["id"], delete_model_files=True) == 4
    assert seen_files() == []

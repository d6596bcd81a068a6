"""Run store: round trips, schema checks, damaged/foreign files, concurrent writers."""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mfcore.errors import MFError
from mfcore.load.synthetic import generate
from mfcore.prepare import prepare
from mfcore.runs import RunRecord, score_run
from mfcore.runstore import (APPLICATION_ID, LIST_COLUMNS, SCHEMA_VERSION, HistoryError,
                             RunHistory, default_history_path)
from mfcore.train import MFModel

REPO = Path(__file__).resolve().parents[2]


def _record(i: int = 0, n_epochs: int = 3, val: bool = True, **changes) -> RunRecord:
    history = [{"epoch": e + 1, "loss": 100.0 - e - i, "train_rmse": 1.0 - 0.1 * e,
                "val_rmse": (1.1 - 0.1 * e) if val else float("nan"), "seconds": 0.01 * (e + 1),
                "ratings_per_s": 1e6 + e, "precision": 0.1 + 0.01 * e, "recall": 0.2,
                "ndcg": 0.15 + 0.01 * e, "eval_seconds": 0.002} for e in range(n_epochs)]
    record = RunRecord(
        status="fitted", history=history, fit_seconds=0.06, threads=1, n_users=300,
        n_items=200, n_train=4800, n_val=1200, split="random",
        params={"factors": 8 + i, "epochs": n_epochs, "lr": 0.01, "reg": 0.05,
                "init_std": 0.1, "biased": True, "neg_ratio": None,
                "neg_sampling": "uniform", "seed": i, "threads": 1,
                "early_stopping": False, "patience": 3},
        data={"source": "synthetic:msd", "n_users": 300, "n_items": 200,
              "n_interactions": 6000, "density": 0.1, "implicit": False,
              "fingerprint": "abc123"},
        split_info={"seed": 0, "n_cold_users": 1}, best_epoch=n_epochs if val else None,
        train_rmse=0.8, train_mae=0.6, val_rmse=0.9 if val else None,
        val_mae=0.7 if val else None, k=10, precision_at_k=0.12, recall_at_k=0.2,
        ndcg_at_k=0.15, extra={"precision_ci95": [0.1, 0.14], "load_seconds": 0.5})
    return dataclasses.replace(record, **changes)


@pytest.fixture
def db(tmp_path) -> RunHistory:
    return RunHistory(tmp_path / "sub" / "runs.sqlite")


def test_round_trip_every_field(db, tmp_path):
    model_file = tmp_path / "m.npz"
    rid = db.record(_record(), source="cli", model_path=model_file, sweep_id=None)
    # A fresh object on the same file (a server restart) sees the run.
    run = RunHistory(db.path).get_run(rid)
    assert run["id"] == rid and run["source"] == "cli" and run["status"] == "fitted"
    assert run["params"] == _record().params
    assert run["data"]["fingerprint"] == run["fingerprint"] == "abc123"
    assert run["dataset"] == "synthetic:msd"
    assert (run["n_users"], run["n_items"], run["n_interactions"]) == (300, 200, 6000)
    assert (run["n_train"], run["n_val"], run["split"]) == (4800, 1200, "random")
    assert (run["factors"], run["epochs"], run["lr"], run["reg"]) == (8, 3, 0.01, 0.05)
    assert run["train_rmse"] == 0.8 and run["val_rmse"] == 0.9 and run["val_mae"] == 0.7
    assert run["k"] == 10 and run["precision_at_k"] == 0.12 and run["ndcg_at_k"] == 0.15
    assert run["fit_seconds"] == 0.06 and run["epochs_run"] == 3 and run["best_epoch"] == 3
    assert run["model_path"] == str(model_file.resolve())
    assert run["metrics"]["precision_ci95"] == [0.1, 0.14]
    assert run["metrics"]["split_info"] == {"seed": 0, "n_cold_users": 1}
    assert run["metrics"]["load_seconds"] == 0.5 and run["metrics"]["train_mae"] == 0.6
    assert run["history"] == _record().history
    assert run["created"] > 0


def test_nan_validation_and_missing_fields(db):
    rid = db.record(_record(val=False), source="app")
    run = db.get_run(rid)
    assert run["val_rmse"] is None
    assert all(math.isnan(h["val_rmse"]) for h in run["history"])
    assert run["best_epoch"] is None
    rid2 = db.record(RunRecord(status="cancelled", extra={"eval_seconds": float("inf")}),
                     source="cli")
    assert db.get_run(rid2)["metrics"]["eval_seconds"] is None  # inf is stored as null
    assert db.get_run(rid2)["history"] == [] and db.get_run(rid2)["status"] == "cancelled"


def test_schema_version_application_id_and_wal(db):
    db.ensure()
    with sqlite3.connect(db.path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_list_delete_and_csv(db, tmp_path):
    ids = [db.record(_record(i), source=s, sweep_id="sw-1" if s == "sweep" else None)
           for i, s in enumerate(["cli", "app", "sweep", "sweep"])]
    frame = db.list_runs()
    assert list(frame.columns) == LIST_COLUMNS
    assert frame["id"].tolist() == ids[::-1]  # newest first
    assert pd.api.types.is_datetime64_any_dtype(frame["created"])
    assert len(db.list_runs(sweep_id="sw-1")) == 2 and len(db.list_runs(source="app")) == 1
    csv_text = db.export_csv(tmp_path / "runs.csv")
    back = pd.read_csv(tmp_path / "runs.csv")
    assert csv_text.startswith("id,created,source") and len(back) == 4
    assert set(back["factors"]) == {8, 9, 10, 11}
    hist = pd.read_csv(pd.io.common.StringIO(db.history_csv(ids[0])))
    assert hist["epoch"].tolist() == [1, 2, 3] and "val_rmse" in hist
    long = db.histories(ids[:2])
    assert len(long) == 6 and set(long["run_id"]) == set(ids[:2])
    assert db.delete_runs([ids[0], ids[2], 9999]) == 2
    assert sorted(db.list_runs()["id"].tolist()) == [ids[1], ids[3]]
    with pytest.raises(HistoryError, match="no run"):
        db.get_run(ids[0])
    assert db.histories([ids[0]]).empty  # epochs went with the run (ON DELETE CASCADE)


def test_env_var_and_default_path(tmp_path, monkeypatch):
    monkeypatch.setenv("MFX_HISTORY_DB", str(tmp_path / "env.sqlite"))
    assert default_history_path() == tmp_path / "env.sqlite"
    assert RunHistory().path == tmp_path / "env.sqlite"
    assert RunHistory(tmp_path / "arg.sqlite").path == tmp_path / "arg.sqlite"
    monkeypatch.delenv("MFX_HISTORY_DB")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_history_path() == tmp_path / "home/.local/share/mfcore/runs.sqlite"


def test_corrupt_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "runs.sqlite"
    payload = np.random.default_rng(0).bytes(8192)
    bad.write_bytes(payload)
    h = RunHistory(bad)
    for op in (h.ensure, h.list_runs, lambda: h.record(_record(), source="cli")):
        with pytest.raises(HistoryError) as e:
            op()
        assert str(bad) in str(e.value) and "not a usable SQLite database" in str(e.value)
        assert isinstance(e.value, MFError)
    assert bad.read_bytes() == payload  # nothing written


def _v2_schema() -> str:
    """The schema before runs had an owner and tags."""
    from mfcore.runstore_db import _SCHEMA
    start = _SCHEMA.index("    note ")
    end = _SCHEMA.index(");", start)
    return _SCHEMA[:start] + "    note           TEXT\n" + _SCHEMA[end:]


def test_foreign_and_newer_sqlite_files(tmp_path):
    foreign = tmp_path / "other.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE pairings (user TEXT, item TEXT)")
        conn.execute("INSERT INTO pairings VALUES ('u', 'i')")
    with pytest.raises(HistoryError, match="not an mfcore run history.*pairings") as e:
        RunHistory(foreign).list_runs()
    assert str(foreign) in str(e.value)
    with sqlite3.connect(foreign) as conn:  # untouched
        assert conn.execute("SELECT COUNT(*) FROM pairings").fetchone()[0] == 1
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 0

    older = tmp_path / "v1.sqlite"  # a history written before the ranking columns existed
    with sqlite3.connect(older) as conn:
        for stmt in _v2_schema().replace("    precision     REAL,", "").replace(
                "    recall        REAL,\n", "").replace("    ndcg          REAL,\n", "").replace(
                "    eval_seconds  REAL,\n", "").split(";"):
            if stmt.strip():
                conn.execute(stmt)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute("PRAGMA user_version = 1")
        conn.execute("INSERT INTO runs (created, source, status, params_json, data_json, "
                     "metrics_json) VALUES (1, 'cli', 'fitted', '{}', '{}', '{}')")
        conn.execute("INSERT INTO epochs (run_id, epoch, loss) VALUES (1, 1, 5.0)")
    upgraded = RunHistory(older)
    assert upgraded.get_run(1)["history"][0]["loss"] == 5.0
    assert math.isnan(upgraded.get_run(1)["history"][0]["ndcg"])
    rid = upgraded.record(_record(), source="cli")
    assert upgraded.get_run(rid)["history"] == _record().history
    with sqlite3.connect(older) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION

    newer = tmp_path / "newer.sqlite"
    RunHistory(newer).ensure()
    with sqlite3.connect(newer) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(HistoryError, match="newer mfcore"):
        RunHistory(newer).list_runs()

    folder = tmp_path / "adir"
    folder.mkdir()
    with pytest.raises(HistoryError, match="folder"):
        RunHistory(folder).ensure()


def test_concurrent_threads_lose_nothing(db):
    n_threads, per_thread = 8, 15
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def writer(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                RunHistory(db.path).record(_record(t * 100 + i), source="app",
                                           sweep_id=f"t{t}")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(t,)) for t in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    frame = db.list_runs()
    assert len(frame) == n_threads * per_thread
    assert frame.groupby("sweep_id").size().eq(per_thread).all()
    assert len(db.histories(frame["id"].tolist())) == 3 * n_threads * per_thread


def test_two_processes_lose_nothing(db):
    db.ensure()
    code = ("import sys, json; from mfcore.runstore import RunHistory; "
            "from mfcore.runs import RunRecord; "
            "h = RunHistory(sys.argv[1]); r = RunRecord(**json.loads(sys.argv[2])); "
            "[h.record(r, source='cli', sweep_id=sys.argv[3]) for _ in range(25)]")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    payload = json.dumps(dataclasses.asdict(_record()))
    procs = [subprocess.Popen([sys.executable, "-c", code, str(db.path), payload, f"p{i}"],
                              env=env, stderr=subprocess.PIPE) for i in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=60)
        assert p.returncode == 0, err.decode()
    assert db.list_runs().groupby("sweep_id").size().to_dict() == {"p0": 25, "p1": 25}


def test_scored_run_saved_model_and_load_model(db):
    data = generate(200, 100, 3000, shape="ratings", seed=3)
    prepared = prepare(data)
    model = MFModel(factors=4, epochs=3, lr=0.02, seed=1).fit(prepared.train, prepared.val)
    record = score_run(model, prepared)
    path = db.save_model(model, prepared.display)
    assert path.parent == db.models_dir
    rid = db.record(record, source="app", model_path=path)
    run = db.get_run(rid)
    assert run["source"] == "app" and run["fingerprint"] == data.fingerprint
    assert run["val_rmse"] == pytest.approx(record.val_rmse)
    assert run["n_train"] == len(prepared.train) and run["n_val"] == len(prepared.val)
    assert run["data"]["prepare"]["transform"] == "none"  # ratings: 'auto' keeps them
    assert [h["epoch"] for h in run["history"]] == [1, 2, 3]
    loaded, meta = db.load_model(rid)
    assert isinstance(loaded, MFModel) and loaded.params["factors"] == 4
    np.testing.assert_allclose(loaded.predict([0, 1], [0, 1]), model.predict([0, 1], [0, 1]))
    assert len(loaded.history_) == 3 and loaded.status_ == model.status_
    assert list(meta["item_ids"][:3]) == list(data.item_ids[:3])

    no_file = db.record(record, source="app")
    with pytest.raises(HistoryError, match="saved no model file"):
        db.load_model(no_file)
    Path(path).unlink()
    with pytest.raises(HistoryError, match="no longer exists"):
        db.load_model(rid)


def test_sweep_rows(db):
    db.start_sweep("sw-x", kind="grid", metric="val_rmse", n_planned=2, config={"a": 1})
    db.record(_record(), source="sweep", sweep_id="sw-x")
    db.finish_sweep("sw-x", status="done", summary={"best": {"x": float("nan")}})
    sw = db.get_sweep("sw-x")
    assert sw["status"] == "done" and sw["config"] == {"a": 1}
    assert sw["summary"] == {"best": {"x": None}} and len(sw["runs"]) == 1
    assert db.list_sweeps()["n_runs"].tolist() == [1]
    db.delete_runs(sw["runs"]["id"].tolist())
    assert db.list_sweeps().empty  # a finished sweep without runs goes too


def test_bad_source_rejected(db):
    with pytest.raises(HistoryError, match="source"):
        db.record(_record(), source="web")


def test_sweep_listing_labels_and_damaged_settings(db):
    db.start_sweep("sw-a", kind="random", metric="val_rmse", n_planned=3,
                   config={"data": {"source": "ratings.csv", "label": "My ratings"}})
    db.record(_record(0, extra={"trial": 2, "error": None}), source="sweep", sweep_id="sw-a")
    db.record(_record(1, status="diverged", val_rmse=0.1), source="sweep", sweep_id="sw-a")
    db.start_sweep("sw-b", kind="grid", metric="val_rmse", n_planned=1,
                   config={"data": {"source": "synthetic:msd"}})
    listed = db.list_sweeps()
    assert listed["id"].tolist() == ["sw-b", "sw-a"]  # newest first
    a = listed.set_index("id").loc["sw-a"]
    assert a["n_runs"] == 2 and a["dataset"] == "My ratings" and a["kind"] == "random"
    assert a["best_val_rmse"] == pytest.approx(0.9)  # the diverged trial is not a candidate
    b = listed.set_index("id").loc["sw-b"]
    assert b["n_runs"] == 0 and math.isnan(b["best_val_rmse"]) and b["dataset"] == "synthetic:msd"
    runs = db.get_sweep("sw-a")["runs"]
    assert runs["id"].is_monotonic_increasing and runs["metrics"][0]["trial"] == 2

    with sqlite3.connect(db.path) as conn:
        conn.execute("UPDATE sweeps SET config_json = '{not json' WHERE id = 'sw-a'")
    assert pd.isna(db.list_sweeps().set_index("id").loc["sw-a", "dataset"])  # listing survives
    with pytest.raises(HistoryError, match="sw-a.*damaged"):
        db.get_sweep("sw-a")

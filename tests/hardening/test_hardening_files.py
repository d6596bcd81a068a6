"""Files beside the data, hardening round two: SQLite in WAL mode read without writing next to it,
the run history checked before training, leftovers of killed saves, model files (version 1 still
read, compact ids, saved without data), the data folder through the Data page, and pyarrow never
holding Python memory (the shutdown abort)."""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mfcore.cli import main
from mfcore.errors import DataError, ModelFileError
from mfcore.load import load_dataset
from mfcore.model import FactorModel
from mfcore.modelio import load_model, save_model

ROOT = Path(__file__).resolve().parents[2]
TRIPLETS = "".join(f"user{u}\tSONG{(u * 7 + j) % 40:03d}\t{1 + (u + j) % 5}\n"
                   for u in range(40) for j in range(6))


@contextlib.contextmanager
def read_only(path: Path):
    """``path`` (a file or a folder) read-only for this process, even as root (chattr +i)."""
    if os.geteuid() != 0:
        mode = path.stat().st_mode
        path.chmod(0o555 if path.is_dir() else 0o444)
        try:
            yield
        finally:
            path.chmod(mode)
        return
    if shutil.which("chattr") is None or subprocess.run(
            ["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("running as root where chattr +i is not allowed: cannot make a file "
                    "read-only")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def wal_db(path: Path, rows, *, pending=()) -> None:
    """A WAL-mode SQLite file; ``pending`` rows are committed but left in the ``-wal`` file."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE pairings (pid INTEGER, tid INTEGER)")
    conn.executemany("INSERT INTO pairings VALUES (?, ?)", rows)
    conn.commit()
    conn.close()
    if pending:
        conn = sqlite3.connect(path)
        conn.execute("PRAGMA wal_autocheckpoint = 0")
        conn.executemany("INSERT INTO pairings VALUES (?, ?)", pending)
        conn.commit()
        folder = path.parent / "copy"
        folder.mkdir()
        for suffix in ("", "-wal"):  # copies taken while the writer still holds the WAL open
            shutil.copy(str(path) + suffix, folder / (path.name + suffix))
        conn.close()
        for suffix in ("", "-wal"):
            shutil.copy(folder / (path.name + suffix), str(path) + suffix)
        shutil.rmtree(folder)
        assert os.path.getsize(str(path) + "-wal") > 0


ROWS = [(1, 10), (1, 11), (2, 10), (3, 12)]


# ---- SQLite in WAL mode -------------------------------------------------------------------------
def test_wal_sqlite_upload_loads(tmp_path):
    wal_db(tmp_path / "pl.db", ROWS)
    data = load_dataset(("pl.db", (tmp_path / "pl.db").read_bytes()))
    assert data.n_users == 3 and len(data) == 4


def test_wal_sqlite_in_the_data_folder_writes_nothing_beside_it(tmp_path):
    wal_db(tmp_path / "pl.db", ROWS)
    before = sorted(os.listdir(tmp_path))
    data = load_dataset(tmp_path / "pl.db", confine_to=tmp_path)
    assert len(data) == 4 and sorted(os.listdir(tmp_path)) == before == ["pl.db"]
    with read_only(tmp_path):
        assert len(load_dataset(tmp_path / "pl.db", confine_to=tmp_path)) == 4
    assert sorted(os.listdir(tmp_path)) == ["pl.db"]


def test_committed_pages_still_in_the_wal_are_read(tmp_path):
    wal_db(tmp_path / "pl.db", ROWS, pending=[(4, 13), (4, 14)])
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    data = load_dataset(tmp_path / "pl.db")
    assert len(data) == 6 and sorted(data.user_ids.tolist()) == [1, 2, 3, 4]
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before  # untouched


# ---- the run history, checked before any training -------------------------------------------------
@pytest.fixture
def plays(tmp_path) -> Path:
    path = tmp_path / "plays.tsv"
    path.write_text(TRIPLETS)
    return path


def a_history(tmp_path, plays) -> Path:
    db = tmp_path / "runs.sqlite"
    assert main(["train", str(plays), "--epochs", "1", "--factors", "2", "--quiet",
                 "--history-db", str(db)]) == 0
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return db


def test_a_damaged_history_fails_before_training(tmp_path, plays, capsys):
    db = a_history(tmp_path, plays)
    conn = sqlite3.connect(db)
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'runs'").fetchone()[0]
    conn.close()
    blob = bytearray(db.read_bytes())
    blob[(root - 1) * page + 8:root * page] = b"\xab" * (page - 8)  # the runs table's root page
    db.write_bytes(bytes(blob))
    capsys.readouterr()
    code = main(["train", str(plays), "--epochs", "3", "--history-db", str(db)])
    out = capsys.readouterr()
    assert code == 2 and "epoch" not in out.err and out.out == "", out.err
    assert f"run history {db}" in out.err and "damaged" in out.err


def test_a_read_only_history_fails_before_training(tmp_path, plays, capsys):
    db = a_history(tmp_path, plays)
    with read_only(db):
        capsys.readouterr()
        code = main(["train", str(plays), "--epochs", "3", "--history-db", str(db)])
        out = capsys.readouterr()
    assert code == 2 and "epoch" not in out.err, out.err
    assert "cannot be opened for writing" in out.err and "readonly" in out.err


# ---- leftovers of a killed save --------------------------------------------------------------------
KILLED_SAVE = r"""
import os, sys
import numpy as np
import mfcore._atomic as atomic

def half_then_die(f, **arrays):
    f.write(b"PK\x03\x04" + b"\x00" * 4096)
    f.flush()
    os._exit(9)  # killed mid-write: no cleanup runs

atomic.np.savez = half_then_die
atomic.atomic_savez(sys.argv[1], {"a": np.arange(3)})
"""


def test_a_killed_save_leaves_a_temp_file_that_the_next_save_removes(tmp_path, msd_small):
    target = tmp_path / "model.npz"
    proc = subprocess.run([sys.executable, "-c", KILLED_SAVE, str(target)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".model.npz.") and left[0].endswith(".tmp")
    mine = tmp_path / f".other.npz.{os.getpid()}-abcdefgh.tmp"  # a live writer's: kept
    mine.write_bytes(b"x")
    save_model(small_model(msd_small), tmp_path / "other.npz", data=msd_small)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["other.npz", mine.name, f"seen-{msd_small.fingerprint}.npz"])


# ---- model files ----------------------------------------------------------------------------------
def small_model(data, k=2) -> FactorModel:
    rng = np.random.default_rng(0)
    return FactorModel(user_factors=rng.normal(size=(data.n_users, k)),
                       item_factors=rng.normal(size=(data.n_items, k)),
                       user_bias=np.zeros(data.n_users), item_bias=np.zeros(data.n_items),
                       global_mean=1.0, params={"seed": 0}, status="fitted")


def test_a_version_1_file_is_still_read(tmp_path, msd_small):
    m = small_model(msd_small)
    meta = {"format": "mfcore-model", "format_version": 1, "params": {"seed": 0},
            "history": [], "status": "fitted", "fingerprint": "f", "source": None,
            "id_kinds": {"user_ids": "str", "item_ids": "str"}, "n_users": msd_small.n_users,
            "n_items": msd_small.n_items, "factors": 2, "biased": True}
    path = tmp_path / "v1.npz"
    with open(path, "wb") as f:
        np.savez(f, user_factors=m.user_factors_, item_factors=m.item_factors_,
                 user_bias=m.user_bias_, item_bias=m.item_bias_, global_mean=np.array(1.0),
                 user_ids=msd_small.user_ids.astype(str), item_ids=msd_small.item_ids.astype(str),
                 meta_json=np.array(json.dumps(meta)))
    loaded, got = load_model(path)
    assert got["format_version"] == 1
    assert loaded.user_ids.tolist() == msd_small.user_ids.tolist()
    assert np.array_equal(loaded.item_factors_, m.item_factors_)


def test_a_400000_character_id_keeps_the_model_file_small(tmp_path):
    from mfcore.interactions import Interactions

    long_id = "u" * 400_000
    data = Interactions.from_raw([long_id, "b", "c"], ["x", "y", "x"], [1.0, 2.0, 3.0])
    path = save_model(small_model(data), tmp_path / "m.npz", data=data)
    assert path.stat().st_size < 500_000  # fixed-width unicode made it 4.8 MB (4 B × 400k × 3)
    loaded, _ = load_model(path)
    assert loaded.user_ids.tolist() == [long_id, "b", "c"]


def test_recommend_and_evaluate_explain_a_model_saved_without_data(tmp_path, plays, capsys):
    data = load_dataset(plays)
    path = save_model(small_model(data), tmp_path / "bare.npz")  # no data=: no ids
    for argv in (["recommend", str(path), "--user", "user1"],
                 ["evaluate", str(path), str(plays)]):
        capsys.readouterr()
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert "saved without its data's user and item ids" in err and str(path) in err, err
        assert len(err.strip().splitlines()) == 1 and "internal error" not in err


# ---- the data folder, through the Data page -------------------------------------------------------
def test_a_folder_whose_slice_links_outside_is_refused_by_the_data_page(tmp_path, monkeypatch):
    from hardening_cases import mpd_doc
    from ui.datafolder import list_data_files, resolve_in_data_dir
    from ui.testing import assert_clean, open_app, wait_for_load

    data = tmp_path / "data"
    (data / "mpd").mkdir(parents=True)
    (data / "mpd" / "mpd.slice.0-999.json").write_text(mpd_doc())
    (tmp_path / "secret.json").write_text(mpd_doc(pids=(7, 8, 9)))
    (data / "mpd" / "mpd.slice.1000-1999.json").symlink_to(tmp_path / "secret.json")
    os.mkfifo(data / "pipe.tsv")
    monkeypatch.setenv("MFX_DATA_DIR", str(data))
    assert "pipe.tsv" not in list_data_files(data)
    with pytest.raises(DataError, match="not a regular file"):
        resolve_in_data_dir("pipe.tsv", data)
    at = open_app("data")
    prepared = at.session_state["prepared"]
    for path in ("mpd", "mpd/"):
        at.text_input(key="w_server_path").set_value(path)
        at.run()
        at.button(key="btn_server").click().run()
        wait_for_load(at)  # the slices are read in the background
        assert_clean(at)
        errors = [e.value for e in at.error]
        assert len(errors) == 1 and "outside the data folder" in errors[0], errors
        assert at.session_state["prepared"] is prepared


# ---- pyarrow never holds Python memory (the abort at interpreter shutdown) -----------------------
def test_pyarrow_readers_get_only_memory_pyarrow_allocated(tmp_path, monkeypatch):
    """A buffer wrapping Python memory must be released with the GIL; released by one of
    pyarrow's threads while the interpreter shuts down, that aborts the process ("terminate
    called without an active exception"). So every buffer handed to pyarrow's CSV and Parquet
    readers is a copy pyarrow allocated itself."""
    import pyarrow as pa

    from hardening_cases import parquet

    allocated, handed = [], []
    real_alloc, real_reader = pa.allocate_buffer, pa.BufferReader

    def alloc(*a, **kw):
        buf = real_alloc(*a, **kw)
        allocated.append(buf)
        return buf

    def reader(obj, *a, **kw):
        handed.append(obj)
        return real_reader(obj, *a, **kw)

    monkeypatch.setattr(pa, "allocate_buffer", alloc)
    monkeypatch.setattr(pa, "BufferReader", reader)
    (tmp_path / "plays.tsv").write_text(TRIPLETS)
    load_dataset(tmp_path / "plays.tsv")
    load_dataset(("plays.tsv", TRIPLETS.encode()))
    load_dataset(("p.parquet", parquet({"u": ["a", "b"], "i": ["x", "y"], "v": [1.0, 2.0]})))
    with pytest.raises(DataError):
        load_dataset(("bad.tsv", (TRIPLETS + "u\tS\tbad\n").encode()))
    assert len(handed) >= 4
    assert all(any(h is a for a in allocated) for h in handed), [type(h) for h in handed]


def test_model_file_errors_are_model_file_errors(tmp_path):
    with pytest.raises(ModelFileError, match="no such model file"):
        load_model(tmp_path / "missing.npz")
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(ModelFileError, match="dir.npz"):
        load_model(tmp_path / "dir.npz")


def test_a_line_only_pyarrow_refuses_is_still_placed(tmp_path, monkeypatch):
    """If the line rules ever accept what pyarrow refuses, the message still names the lines of
    the segment pyarrow was parsing (segments shrunk to ~200 bytes to have several)."""
    import mfcore.load._delim as delim

    monkeypatch.setattr(delim, "SEGMENT_BYTES", 200)
    monkeypatch.setattr(delim, "scan_for_error", lambda *a, **k: None)
    rows = [f"user{u}\tSONG{u}\t{u % 5 + 1}\n" for u in range(60)]
    rows[40] = "user40\tSONG40\tbad\n"
    path = tmp_path / "plays.txt"
    path.write_text("".join(rows))
    with pytest.raises(DataError) as info:
        load_dataset(path, use_cache=False)
    first, last = info.value.line, int(str(info.value).split(" to ")[1].split(":")[0])
    assert first <= 41 <= last and last - first < 15, str(info.value)

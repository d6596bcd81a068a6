"""Read-only SQLite pairs loader."""
from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from mfcore.errors import DataError
from mfcore.load import detect_format, load_dataset
from mfcore.load.sqlite import load_sqlite


def make_db(path, rows=((0, 10), (0, 11), (1, 10), (2, 12), (2, 12), (3, 11))):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE pairings (pid INTEGER, tid INTEGER)")
    conn.executemany("INSERT INTO pairings VALUES (?, ?)", rows)
    conn.execute("CREATE TABLE plays (user TEXT, song TEXT, n REAL)")
    conn.executemany("INSERT INTO plays VALUES (?, ?, ?)",
                     [("a", "s1", 2), ("a", "s2", 1), ("b", "s1", 5)])
    conn.commit()
    conn.close()
    return path


def test_pairings_round_trip(tmp_path):
    path = make_db(tmp_path / "pl.db")
    assert detect_format(path) == "sqlite"
    d = load_dataset(path)
    assert d.implicit and d.extra["table"] == "pairings" and d.extra["format"] == "sqlite"
    assert len(d) == 5 and d.n_duplicates_merged == 1
    assert list(d.user_ids) == [0, 1, 2, 3] and d.user_ids.dtype == np.int64
    pairs = {(d.user_ids[u], d.item_ids[i]): v for u, i, v in zip(d.users, d.items, d.values)}
    assert pairs[(2, 12)] == 2.0 and pairs[(0, 11)] == 1.0


def test_named_table_columns_and_values(tmp_path):
    path = make_db(tmp_path / "pl.sqlite")
    d = load_dataset(path, table="plays", user_col="user", item_col="song", value_col="n")
    assert not d.implicit and sorted(d.values.tolist()) == [1, 2, 5]
    assert list(d.user_ids) == ["a", "b"]


def test_playlist_cap_and_row_cap(tmp_path):
    path = make_db(tmp_path / "pl.db")
    d = load_dataset(path, max_playlists=2)
    assert sorted(d.user_ids.tolist()) == [0, 1] and len(d) == 3
    assert len(load_sqlite(path, max_rows=2)) == 2


def test_file_is_left_untouched(tmp_path):
    path = make_db(tmp_path / "pl.db")
    before = path.read_bytes()
    load_dataset(path)
    assert path.read_bytes() == before and not (tmp_path / "pl.db-journal").exists()


def test_wrong_table_lists_tables(tmp_path):
    path = make_db(tmp_path / "pl.db")
    with pytest.raises(DataError) as info:
        load_dataset(path, table="tracks")
    msg = str(info.value)
    assert str(path) in msg and "'tracks'" in msg and "pairings, plays" in msg


def test_wrong_column_lists_columns(tmp_path):
    path = make_db(tmp_path / "pl.db")
    with pytest.raises(DataError) as info:
        load_dataset(path, user_col="playlist")
    assert "pid, tid" in str(info.value) and info.value.field == "playlist"


def test_table_name_carrying_sql(tmp_path):
    path = make_db(tmp_path / "pl.db")
    evil = "pairings; DROP TABLE pairings; --"
    with pytest.raises(DataError, match="no table or view named"):
        load_dataset(path, table=evil)
    with pytest.raises(DataError, match="no user column"):
        load_dataset(path, user_col='pid" FROM pairings; --')
    assert len(load_dataset(path)) == 5      # still intact


def test_other_schema(tmp_path):
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE a (x)")
    conn.execute("CREATE TABLE b (y, z)")
    conn.commit()
    conn.close()
    with pytest.raises(DataError, match="none named 'pairings'.*a, b"):
        load_dataset(path)
    with pytest.raises(DataError, match="has 1 column"):
        load_dataset(path, table="a")
    with pytest.raises(DataError, match="no rows"):
        load_dataset(path, table="b")


def test_not_sqlite(tmp_path):
    path = tmp_path / "fake.db"
    path.write_text("hello\tworld\t1\n")
    with pytest.raises(DataError, match="SQLite"):
        load_dataset(path)
    with pytest.raises(DataError, match="SQLite"):
        load_sqlite(path)
    path.write_bytes(b"SQLite format 3\x00" + b"\x00" * 50)   # right magic, broken body
    with pytest.raises(DataError) as info:
        load_sqlite(path)
    assert str(path) in str(info.value)


def test_recursive_view_hits_deadline(tmp_path):
    path = make_db(tmp_path / "pl.db")
    conn = sqlite3.connect(path)
    conn.execute("CREATE VIEW forever AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
                 "SELECT x + 1 FROM c) SELECT x AS pid, x AS tid FROM c ORDER BY x DESC")
    conn.commit()
    conn.close()
    with pytest.raises(DataError, match="deadline"):
        load_dataset(path, table="forever", timeout_s=0.3)


def test_null_and_text_values(tmp_path):
    path = tmp_path / "n.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE pairings (pid, tid, v)")
    conn.executemany("INSERT INTO pairings VALUES (?, ?, ?)", [(1, 2, 1.0), (1, None, 2.0)])
    conn.execute("CREATE TABLE t2 (pid, tid, v)")
    conn.executemany("INSERT INTO t2 VALUES (?, ?, ?)", [(1, 2, 1.0), (2, 3, "many")])
    conn.commit()
    conn.close()
    with pytest.raises(DataError, match="row 2: NULL item id"):
        load_dataset(path)
    with pytest.raises(DataError, match="row 2: value 'many' is not a number"):
        load_dataset(path, table="t2", value_col="v")


def test_upload_bytes(tmp_path):
    path = make_db(tmp_path / "pl.db")
    d = load_dataset(("upload.db", path.read_bytes()))
    assert len(d) == 5

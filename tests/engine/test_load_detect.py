"""detect_format and load_dataset dispatch."""
from __future__ import annotations

import gzip
import io
import sqlite3
import tarfile

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mfcore.errors import ConfigError, DataError
from mfcore.load import FORMATS, detect_format, load_dataset


def put(tmp_path, name, data):
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


@pytest.mark.parametrize("name, data, fmt", [
    ("t.txt", "u\tSOA\t1\n", "triplets"),
    ("train_triplets", "u\tSOA\t1\n", "triplets"),
    ("t.txt", "user_id\tsong_id\tplay_count\nu\tSOA\t1\n", "triplets"),
    ("u.data", "1\t2\t3\t4\n", "tsv"),
    ("d.tsv", "u\tSOA\t1\n", "tsv"),
    ("r.csv", "a\tb\n", "csv"),
    ("r.txt", "a,b,1\n", "csv"),
    ("x.json", "{}", "mpd"),
    ("noext", '  {"playlists": []}', "mpd"),
])
def test_text_formats(tmp_path, name, data, fmt):
    assert detect_format(put(tmp_path, name, data)) == fmt
    assert detect_format((name, data.encode())) == fmt


def test_magic_bytes(tmp_path):
    db = tmp_path / "x.bin"
    sqlite3.connect(db).execute("CREATE TABLE t (a)").connection.commit()
    assert detect_format(db) == "sqlite"
    pq.write_table(pa.table({"a": [1]}), tmp_path / "x.data")
    assert detect_format(tmp_path / "x.data") == "parquet"
    assert detect_format(put(tmp_path, "t.gz", gzip.compress(b"u\tSOA\t1\n"))) == "triplets"
    assert detect_format(put(tmp_path, "r.csv.gz", gzip.compress(b"a,b\n"))) == "csv"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("mpd.slice.0-999.json")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"{}"))
    assert detect_format(put(tmp_path, "archive.bin", buf.getvalue())) == "mpd"


@pytest.mark.parametrize("name, data, words", [
    ("e.txt", b"", "empty"),
    ("x.gz", b"plain text", "not gzip"),
    ("x.parquet", b"a,b\n", "PAR1"),
    ("x.sqlite", b"a,b\n", "SQLite"),
    ("x.bin", b"\x00\x01\x02binary", "binary"),
    ("x.txt", "a\tb\n".encode("utf-16"), "UTF-16"),
    ("x.txt", b"justoneword\n", "cannot tell"),
])
def test_detect_errors_name_the_file(tmp_path, name, data, words):
    path = put(tmp_path, name, data)
    with pytest.raises(DataError) as info:
        detect_format(path)
    assert words in str(info.value) and str(path) in str(info.value)


def test_option_mismatches(tmp_path):
    path = put(tmp_path, "t.txt", "u\tSOA\t1\n")
    with pytest.raises(ConfigError):
        load_dataset(path, format="excel")
    with pytest.raises(ConfigError, match="table"):
        load_dataset(path, table="pairings")
    with pytest.raises(ConfigError, match="max_playlists"):
        load_dataset(path, max_playlists=3)
    d = load_dataset(path, user_col=0, item_col=1, value_col=2)     # named columns -> tsv
    assert d.extra["format"] == "tsv"
    with pytest.raises(DataError, match="upload"):
        load_dataset(("only a name",))


def test_synthetic():
    assert "synthetic" in FORMATS
    d = load_dataset("synthetic", synthetic=dict(n_users=50, n_items=40, n_interactions=500))
    assert d.n_users <= 50 and len(d) > 100
    d = load_dataset("synthetic:playlist", synthetic=dict(n_users=30, n_items=20,
                                                          n_interactions=200))
    assert d.implicit


def test_progress_is_reported(tmp_path):
    path = put(tmp_path, "t.txt", "".join(f"u{k}\tSO{k % 7}\t1\n" for k in range(100)))
    seen = []
    load_dataset(path, progress=lambda f, m: seen.append((f, m)))
    assert seen and seen[-1][0] == 1.0 and all(0 <= f <= 1 for f, _ in seen)

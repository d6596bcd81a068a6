"""Generic CSV / TSV / Parquet loader."""
from __future__ import annotations

import gzip

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mfcore.errors import DataError
from mfcore.load import load_dataset
from mfcore.load.tabular import load_table

CSV = "userId,movieId,rating,timestamp\n1,10,4.5,99\n1,20,3,98\n2,10,5,97\n3,30,1,96\n"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def triples(d):
    return sorted((d.user_ids[u], d.item_ids[i], float(v))
                  for u, i, v in zip(d.users, d.items, d.values))


def test_csv_named_columns_and_int_ids(tmp_path):
    path = write(tmp_path, "r.csv", CSV)
    d = load_dataset(path, user_col="userId", item_col="movieId", value_col="rating")
    assert triples(d) == [(1, 10, 4.5), (1, 20, 3.0), (2, 10, 5.0), (3, 30, 1.0)]
    assert d.user_ids.dtype == np.int64 and d.item_ids.dtype == np.int64
    assert d.item_index([20])[0] == 1 and d.user_index(3)[0] == 2
    assert d.extra["format"] == "csv" and d.extra["header"][0] == "userId"


def test_default_first_three_columns_and_positions(tmp_path):
    path = write(tmp_path, "r.csv", CSV)
    assert triples(load_table(path)) == triples(load_table(path, user_col=0, item_col=1,
                                                           value_col=2))
    d = load_table(path, value_col="timestamp")
    assert sorted(d.values.tolist()) == [96, 97, 98, 99]


def test_two_columns_are_implicit(tmp_path):
    path = write(tmp_path, "pairs.csv", "pid,tid\n0,5\n0,6\n1,5\n0,5\n")
    d = load_dataset(path)
    assert d.implicit and len(d) == 3 and d.n_duplicates_merged == 1
    assert triples(d)[0] == (0, 5, 2.0)
    d = load_dataset(path, duplicates="max")
    assert set(d.values.tolist()) == {1.0}


def test_value_col_false_and_string_ids_without_header(tmp_path):
    path = write(tmp_path, "x.csv", "alice,song b,3\nbob,song a,2\n")
    d = load_table(path, value_col=False)
    assert d.implicit and list(d.item_ids) == ["song a", "song b"]
    d = load_table(path)
    assert d.extra["header"] is None and triples(d)[0] == ("alice", "song b", 3.0)


def test_tsv_gz_and_quoted_fields(tmp_path):
    text = 'user\titem\tcount\n"a b"\t"x, ""y"""\t2\nc\tz\t1\n'
    path = write(tmp_path, "d.tsv.gz", gzip.compress(text.encode()))
    d = load_dataset(path)
    assert d.extra["format"] == "tsv" and ("a b", 'x, "y"', 2.0) in triples(d)


def test_semicolon_sniffed(tmp_path):
    path = write(tmp_path, "d.csv", "u;i;v\na;x;1\nb;y;2\n")
    assert len(load_dataset(path)) == 2


def test_row_cap(tmp_path):
    path = write(tmp_path, "d.csv", "u,i,v\n" + "".join(f"u{k},i{k},1\n" for k in range(100)))
    d = load_dataset(path, max_rows=10)
    assert len(d) == 10 and d.extra["truncated"]


def test_missing_named_column_lists_columns(tmp_path):
    path = write(tmp_path, "r.csv", CSV)
    with pytest.raises(DataError) as info:
        load_dataset(path, user_col="user", item_col="movieId")
    msg = str(info.value)
    assert str(path) in msg and "'user'" in msg
    assert "'userId', 'movieId', 'rating', 'timestamp'" in msg and info.value.field == "user"


def test_named_column_without_header(tmp_path):
    path = write(tmp_path, "x.csv", "1,2,3\n4,5,6\n")
    with pytest.raises(DataError, match="no header row"):
        load_table(path, user_col="user")


def test_unbalanced_quote(tmp_path):
    path = write(tmp_path, "r.csv", 'u,i,v\na,"b,1\nc,d,2\n')
    with pytest.raises(DataError) as info:
        load_dataset(path)
    assert "line 2" in str(info.value) and "quote" in str(info.value)


def test_bad_values_name_line_and_column(tmp_path):
    for bad, words in (("x", "not a number"), ("-1", "negative"), ("nan", "NaN"),
                       ("1e39", "float32")):
        path = write(tmp_path, "r.csv", f"u,i,score\na,b,1\nc,d,{bad}\n")
        with pytest.raises(DataError) as info:
            load_dataset(path)
        assert "line 3" in str(info.value) and "'score'" in str(info.value)
        assert words in str(info.value)
    path = write(tmp_path, "r.csv", "u,i,score\na,b,-1\n")
    assert load_dataset(path, allow_negative=True).values[0] == -1


def test_wrong_column_count_in_csv(tmp_path):
    path = write(tmp_path, "r.csv", "u,i,v\na,b,1\nc,d\n")
    with pytest.raises(DataError, match="line 3.*expected 3 comma-separated fields, found 2"):
        load_dataset(path)


def test_parquet_round_trip_and_errors(tmp_path):
    path = tmp_path / "d.parquet"
    pq.write_table(pa.table({"user": ["a", "a", "b", "c"], "item": [3, 1, 1, 2],
                             "plays": [1.0, 2.0, 3.0, 4.0]}), path)
    d = load_dataset(path)
    assert d.extra["format"] == "parquet"
    assert triples(d) == [("a", 1, 2.0), ("a", 3, 1.0), ("b", 1, 3.0), ("c", 2, 4.0)]
    assert list(d.item_ids) == [1, 2, 3]
    assert len(load_dataset(path, max_rows=2)) == 2
    d = load_dataset(("up.parquet", path.read_bytes()), value_col=False)
    assert d.implicit and len(d) == 4
    with pytest.raises(DataError) as info:
        load_dataset(path, user_col="uid")
    assert "'user', 'item', 'plays'" in str(info.value) and str(path) in str(info.value)
    pq.write_table(pa.table({"u": ["a", "b"], "i": ["x", "y"], "v": [1.0, float("inf")]}), path)
    with pytest.raises(DataError, match="row 2.*infinite"):
        load_dataset(path)
    pq.write_table(pa.table({"u": ["a", None], "i": ["x", "y"]}), path)
    with pytest.raises(DataError, match="row 2.*missing user"):
        load_dataset(path)


def test_fake_parquet(tmp_path):
    path = write(tmp_path, "d.parquet", "a,b,c\n")
    with pytest.raises(DataError, match="PAR1"):
        load_dataset(path)


def test_real_movielens_tsv(shared_data):
    path = shared_data / "movielens" / "ml-100k" / "u.data"
    d = load_dataset(path, format="tsv")
    assert (len(d), d.n_users, d.n_items) == (100_000, 943, 1_682)
    assert d.user_ids.dtype == np.int64 and sorted(np.unique(d.values)) == [1, 2, 3, 4, 5]

"""MovieLens as it comes: the timestamp column kept as ``Interactions.times`` (through merges,
subsets, filters, the parse cache), ML-1M's ``::`` separator, and the time split that trains on
each user's earlier ratings and validates on the later ones."""
from __future__ import annotations

import gzip

import numpy as np
import pytest

from mfcore.errors import ConfigError, DataError
from mfcore.interactions import Interactions
from mfcore.load import detect_format, load_dataset
from mfcore.prepare import PrepOptions, filter_min_counts, prepare
from mfcore.split import make_split, time_split

# user, item, rating, time: user 1 rated items 10, 20, 30, 40 at times 4, 1, 3, 2.
U_DATA = "1\t10\t5\t400\n1\t20\t3\t100\n1\t30\t4\t300\n1\t40\t1\t200\n2\t10\t2\t50\n2\t20\t4\t60\n"
ML1M = U_DATA.replace("\t", "::")


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


def rows(d):
    return sorted((int(d.user_ids[u]), int(d.item_ids[i]), float(v), float(t))
                  for u, i, v, t in zip(d.users, d.items, d.values, d.times))


@pytest.mark.parametrize("name,text", [("u.data", U_DATA), ("ratings.dat", ML1M),
                                       ("ratings.dat.gz", gzip.compress(ML1M.encode()))])
def test_movielens_layouts_keep_the_timestamp(tmp_path, name, text):
    d = load_dataset(write(tmp_path, name, text), use_cache=False)
    assert d.kind == "ratings" and d.times is not None
    assert rows(d)[:4] == [(1, 10, 5.0, 400.0), (1, 20, 3.0, 100.0), (1, 30, 4.0, 300.0),
                           (1, 40, 1.0, 200.0)]
    assert d.extra["time_column"] == "column 4" and d.extra["unused_columns"] == []
    assert prepare(d).opts.transform == "none"  # 1–5 ratings are trained as they are


def test_double_colon_is_read_whatever_the_text_format_chosen(tmp_path):
    path = write(tmp_path, "ratings.dat", ML1M)
    assert detect_format(path) == "csv"
    assert len(load_dataset(path, "csv", use_cache=False)) == 6
    for fmt in ("tsv", "triplets"):  # a clear way out, in the user's words, not the API's
        with pytest.raises(DataError, match="'::' as in MovieLens") as info:
            load_dataset(path, fmt, use_cache=False)
        assert "format=" not in str(info.value)


def test_unrecognisable_text_names_no_python_api(tmp_path):
    with pytest.raises(DataError, match="choose the format explicitly") as info:
        load_dataset(write(tmp_path, "x.txt", "just some words\nand more\n"), use_cache=False)
    assert "format=" not in str(info.value)


def test_named_time_column_and_unused_columns_are_reported(tmp_path):
    csv = "user,item,rating,genre,timestamp\na,x,4,rock,10\na,y,2,pop,20\nb,x,5,rock,30\n"
    d = load_dataset(write(tmp_path, "r.csv", csv), use_cache=False)
    assert d.extra["time_column"] == "timestamp" and d.extra["unused_columns"] == ["genre"]
    assert sorted(d.times.tolist()) == [10.0, 20.0, 30.0]
    off = load_dataset(write(tmp_path, "r2.csv", csv), time_col=False, use_cache=False)
    assert off.times is None and off.extra["unused_columns"] == ["genre", "timestamp"]


def test_bad_time_names_line_and_column(tmp_path):
    bad = "user,item,rating,timestamp\na,x,4,10\nb,y,3,soon\n"
    with pytest.raises(DataError, match="time 'soon' is not a number") as info:
        load_dataset(write(tmp_path, "bad.csv", bad), use_cache=False)
    assert info.value.line == 3 and info.value.field == "timestamp"
    with pytest.raises(ConfigError, match="CSV/TSV"):
        load_dataset(write(tmp_path, "p.json", '{"playlists": []}'), "mpd", time_col=3)


def test_times_follow_merges_subsets_filters_and_the_cache(tmp_path):
    d = Interactions.from_raw(["a", "a", "b", "a"], ["x", "y", "x", "x"], [1, 2, 3, 4],
                              times=[5.0, 6.0, 7.0, 9.0])
    assert d.n_duplicates_merged == 1
    got = {(d.user_ids[u], d.item_ids[i]): t for u, i, t in zip(d.users, d.items, d.times)}
    assert got == {("a", "x"): 9.0, ("a", "y"): 6.0, ("b", "x"): 7.0}  # latest time kept
    sub = d.subset(d.values > 3)
    assert sub.times.tolist() == [9.0]
    kept = filter_min_counts(d, min_user=2)
    assert kept.times.tolist() == [9.0, 6.0]
    assert d.fingerprint != Interactions.from_raw(
        ["a", "a", "b", "a"], ["x", "y", "x", "x"], [1, 2, 3, 4]).fingerprint
    with pytest.raises(TypeError, match="times"):
        Interactions(d.users, d.items, d.values, d.user_ids, d.item_ids, times=np.ones(2))
    big = write(tmp_path, "u.data", U_DATA)
    first = load_dataset(big, cache_dir=tmp_path / "c", use_cache=True)
    again = load_dataset(big, cache_dir=tmp_path / "c", use_cache=True)
    assert again.extra["from_cache"] and rows(again) == rows(first)


def test_time_split_validates_on_each_users_latest_rows(tmp_path):
    d = load_dataset(write(tmp_path, "u.data", U_DATA), use_cache=False)
    sp = time_split(d, frac=0.5)
    val = {(int(d.user_ids[u]), int(d.item_ids[i])) for u, i in zip(sp.val.users, sp.val.items)}
    assert val == {(1, 10), (1, 30), (2, 20)}  # user 1's two latest, user 2's latest
    train_t = {int(d.user_ids[u]): [] for u in range(d.n_users)}
    for u, t in zip(sp.train.users, sp.train.times):
        train_t[int(d.user_ids[u])].append(t)
    for u, t in zip(sp.val.users, sp.val.times):  # every validation row is later than training
        assert t > max(train_t[int(d.user_ids[u])])
    assert sp.kind == "time" and sp.info["n_cold_users"] == 0
    same = make_split(d, "time", val_frac=0.5, seed=123)  # no seed involved
    assert np.array_equal(same.val.items, sp.val.items)
    assert prepare(d, PrepOptions(split="time", val_frac=0.5)).split.kind == "time"


def test_time_split_without_times_says_what_is_missing():
    d = Interactions.from_raw(["a", "a"], ["x", "y"], [1, 2])
    with pytest.raises(DataError, match="timestamp column"):
        make_split(d, "time")

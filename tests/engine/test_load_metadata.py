"""Item metadata CSV: bytes-literal decoding and the join for display."""
from __future__ import annotations

import pytest

from mfcore.errors import DataError
from mfcore.load import load_dataset
from mfcore.load.metadata import attach_metadata, decode_bytes_literal, load_metadata

SONG_DATA = (",artist_name,song_id,title,release,year\n"
             "0,b'Rapha\\xc3\\xabl',b'SOA',b'Je Sais',b'Deluxe',2008\n"
             "1,b'Bj\\xc3\\xb6rk',b'SOB',\"b'Let\\'s Call Him \"\"Andre'\",b'X',0\n"
             "2,b'Nobody',b'SOZ',b'Unused',b'Y',1999\n")


@pytest.mark.parametrize("raw, want", [
    ("b'Rapha\\xc3\\xabl'", "Raphaël"), ('b"It\'s"', "It's"), ("b'Let\\'s go'", "Let's go"),
    ("plain", "plain"), ("b'", "b'"), ("bob", "bob"), (None, None), ("b''", ""),
])
def test_decode_bytes_literal(raw, want):
    assert decode_bytes_literal(raw) == want


def test_song_data_quirks_and_join(tmp_path):
    meta_path = tmp_path / "song_data.csv"
    meta_path.write_text(SONG_DATA)
    meta = load_metadata(meta_path)
    assert list(meta.columns) == ["title", "artist", "album", "year"]
    assert meta.loc["SOA", "artist"] == "Raphaël" and meta.loc["SOB", "artist"] == "Björk"
    assert meta.loc["SOB", "title"] == 'Let\'s Call Him "Andre'
    assert meta.loc["SOA", "year"] == 2008 and meta["year"].isna().sum() == 1
    trip = tmp_path / "t.txt"
    trip.write_text("u1\tSOA\t1\nu1\tSOB\t2\nu2\tSOC\t1\n")
    d = load_dataset(trip, metadata=meta_path)
    assert d.extra["metadata_matched"] == 2 and len(d.item_meta) == 2
    labels = d.item_labels(d.item_index(["SOA", "SOC"]))
    assert labels == ["Je Sais — Raphaël", "SOC"]


def test_metadata_from_upload_and_int_ids(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("user,item,rating\n1,10,4\n2,20,3\n")
    d = load_dataset(path, metadata=("movies.csv", b"item_id,title\n10,Heat\n30,Other\n"))
    assert d.item_labels(d.item_index([10, 20])) == ["Heat", "20"]


def test_missing_named_column(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("song_id,name\nSOA,x\n")
    with pytest.raises(DataError) as info:
        load_metadata(path, title_col="title")
    assert "'song_id', 'name'" in str(info.value) and str(path) in str(info.value)


def test_bad_encoding(tmp_path):
    path = tmp_path / "m.csv"
    path.write_bytes("song_id,title\nSOA,Beyonc\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="UTF-8"):
        load_metadata(path)
    path.write_bytes("song_id,title\nSOA,x\n".encode("utf-16"))
    with pytest.raises(DataError, match="UTF-16"):
        load_metadata(path)


def test_real_song_data(shared_data):
    meta = load_metadata(shared_data / "msd_song_metadata" / "song_data.csv")
    assert len(meta) == 10_000 and meta.index.is_unique
    assert meta.loc["SOGSMXL12A81C23D88", "artist"] == "Raphaël"
    assert not meta["title"].str.startswith("b'").any()
    d = load_dataset(shared_data / "msd_taste_subset" / "10000.txt", metadata=meta,
                     use_cache=False)
    assert d.extra["metadata_matched"] == 160
    d2 = attach_metadata(d, meta)
    assert len(d2.item_meta) == 160

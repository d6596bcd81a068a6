"""Spotify MPD slices: single file, folder, tar.gz, and malformed JSON."""
from __future__ import annotations

import io
import json
import tarfile

import numpy as np
import pytest

from mfcore.errors import DataError
from mfcore.load import detect_format, load_dataset
from mfcore.load.mpd import load_mpd


def track(n):
    return {"pos": 0, "artist_name": f"Artist {n}", "track_uri": f"spotify:track:{n:03d}",
            "track_name": f"Song {n}"}


def slice_doc(start, playlists):
    return {"info": {"slice": f"{start}-{start + 999}", "version": "v1"},
            "playlists": [{"name": f"pl{pid}", "pid": pid, "num_tracks": len(t),
                           "tracks": [track(n) for n in t]} for pid, t in playlists]}


SLICES = {0: [(0, [1, 2, 3]), (1, [2, 2, 4])], 1000: [(1000, [5, 1])]}


def write_slices(folder):
    folder.mkdir(exist_ok=True)
    for start, pls in SLICES.items():
        (folder / f"mpd.slice.{start}-{start + 999}.json").write_text(
            json.dumps(slice_doc(start, pls)))
    return folder


def make_tar(path, folder, extra=None):
    with tarfile.open(path, "w:gz") as tar:
        for p in sorted(folder.iterdir()):
            tar.add(p, arcname=f"slices/{p.name}")
        for name, data in (extra or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def check_all(d):
    assert d.implicit and d.n_users == 3 and d.n_items == 5
    assert len(d) == 7 and d.n_duplicates_merged == 1 and d.extra["n_rows"] == 8
    assert sorted(d.user_ids.tolist()) == [0, 1, 1000]
    pairs = {(d.user_ids[u], d.item_ids[i]): v for u, i, v in zip(d.users, d.items, d.values)}
    assert pairs[(1, "spotify:track:002")] == 2.0 and pairs[(0, "spotify:track:001")] == 1.0
    assert d.item_meta.loc["spotify:track:004", "title"] == "Song 4"
    assert d.item_meta.loc["spotify:track:005", "artist"] == "Artist 5"
    assert d.item_labels([d.item_index("spotify:track:003")[0]]) == ["Song 3 — Artist 3"]


def test_single_slice(tmp_path):
    folder = write_slices(tmp_path / "s")
    path = folder / "mpd.slice.0-999.json"
    assert detect_format(path) == "mpd"
    d = load_dataset(path)
    assert d.n_users == 2 and len(d) == 5 and d.n_duplicates_merged == 1


def test_folder_and_tar_gz_agree(tmp_path):
    folder = write_slices(tmp_path / "s")
    a = load_dataset(folder)
    check_all(a)
    tar = make_tar(tmp_path / "slices.tar.gz", folder,
                   extra={"slices/README.md": b"hi", "._mpd.slice.0-999.json": b"junk"})
    assert detect_format(tar) == "mpd"
    b = load_dataset(tar)
    check_all(b)
    np.testing.assert_array_equal(a.items, b.items)
    assert list(a.item_ids) == list(b.item_ids)
    c = load_dataset(("up.tar.gz", tar.read_bytes()))
    check_all(c)


def test_duplicate_policy_and_caps(tmp_path):
    folder = write_slices(tmp_path / "s")
    d = load_dataset(folder, duplicates="max")
    assert set(d.values.tolist()) == {1.0}
    d = load_dataset(folder, max_playlists=2)
    assert sorted(d.user_ids.tolist()) == [0, 1] and d.extra["truncated"]
    d = load_mpd(folder, max_rows=4)
    assert d.user_ids.tolist() == [0]


def test_cache_round_trip_keeps_metadata(tmp_path):
    folder = write_slices(tmp_path / "s")
    a = load_dataset(folder, cache_dir=tmp_path / "c", use_cache=True)
    b = load_dataset(folder, cache_dir=tmp_path / "c", use_cache=True)
    assert b.extra["from_cache"] and not a.extra["from_cache"]
    check_all(b)
    assert b.item_meta.equals(a.item_meta)


def test_truncated_json_names_file_and_position(tmp_path):
    path = tmp_path / "mpd.slice.0-999.json"
    text = json.dumps(slice_doc(0, SLICES[0]), indent=1)
    path.write_text(text[: len(text) // 2])
    with pytest.raises(DataError) as info:
        load_dataset(path)
    msg = str(info.value)
    assert str(path) in msg and "truncated" in msg and "line" in msg and info.value.line > 1


def test_truncated_member_in_tar(tmp_path):
    folder = write_slices(tmp_path / "s")
    (folder / "mpd.slice.2000-2999.json").write_text('{"playlists": [{"pid": 5, "tracks": [')
    tar = make_tar(tmp_path / "s.tar.gz", folder)
    with pytest.raises(DataError) as info:
        load_dataset(tar)
    assert "s.tar.gz:slices/mpd.slice.2000-2999.json" in str(info.value)
    blob = tar.read_bytes()
    (tmp_path / "cut.tar.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError, match="cut.tar.gz"):
        load_dataset(tmp_path / "cut.tar.gz")


def test_deeply_nested_json(tmp_path):
    path = tmp_path / "mpd.slice.0-999.json"
    path.write_text('{"playlists": ' + "[" * 200_000 + "]" * 200_000 + "}")
    with pytest.raises(DataError, match="nested too deeply") as info:
        load_dataset(path)
    assert str(path) in str(info.value)


def test_json_nan(tmp_path):
    path = tmp_path / "mpd.slice.0-999.json"
    doc = json.dumps(slice_doc(0, SLICES[0]), indent=1).replace('"num_tracks": 3',
                                                                '"num_tracks": NaN')
    path.write_text(doc)
    with pytest.raises(DataError, match="NaN is not valid JSON") as info:
        load_dataset(path)
    assert info.value.line == doc[: doc.index("NaN")].count("\n") + 1


def test_missing_fields(tmp_path):
    path = tmp_path / "mpd.slice.0-999.json"
    path.write_text(json.dumps({"playlists": [{"pid": 3, "tracks": [{"track_name": "x"}]}]}))
    with pytest.raises(DataError, match="playlist #1 .pid 3., track #1.*track_uri"):
        load_dataset(path)
    path.write_text(json.dumps({"info": {}}))
    with pytest.raises(DataError, match="'playlists' list"):
        load_dataset(path)


def test_tar_bomb_capped(tmp_path):
    member = b"{" + b" " * (8 << 20) + b"}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("mpd.slice.0-999.json")
        info.size = len(member)
        tar.addfile(info, io.BytesIO(member))
    path = tmp_path / "bomb.tar.gz"
    path.write_bytes(buf.getvalue())
    with pytest.raises(DataError, match="max_decompressed_bytes") as e:
        load_dataset(path, max_decompressed_bytes=1 << 20)
    assert "bomb.tar.gz" in str(e.value)


def test_empty_folder(tmp_path):
    with pytest.raises(DataError, match="mpd.slice"):
        load_dataset(tmp_path)


def test_real_single_slices(shared_data):
    d = load_dataset(shared_data / "mpd_slices" / "niclasfernandez_full_fields"
                     / "mpd.slice.0-999.json")
    assert (d.n_users, d.n_items, d.extra["n_rows"], d.n_duplicates_merged) == (29, 1397, 1448, 17)
    d = load_dataset(shared_data / "mpd_slices" / "soundscout_sampled"
                     / "mpd.slice.534000-534999.json")
    assert d.n_users == 18 and d.extra["n_rows"] == 1274


def test_real_932_slice_tar(shared_data):
    d = load_dataset(shared_data / "mpd_slices" / "soundscout_sampled"
                     / "mpd_sampled_932_slices.tar.gz", use_cache=False)
    assert (d.n_users, d.n_items) == (7_071, 201_730)
    assert d.extra["n_rows"] == 696_957 and len(d) == 686_995 and d.n_duplicates_merged == 9_962
    assert d.item_meta["title"].notna().all()


def test_playlist_names_follow_the_playlists(tmp_path):
    """A playlist's name is kept as user metadata: shown beside its pid, kept by filters and
    by the parse cache."""
    from mfcore.prepare import PrepOptions, prepare
    doc = {"playlists": [
        {"pid": 7, "name": "Road trip", "tracks": [{"track_uri": "t:a"}, {"track_uri": "t:b"}]},
        {"pid": 8, "name": "Sleep", "tracks": [{"track_uri": "t:a"}]},
        {"pid": 9, "tracks": [{"track_uri": "t:a"}, {"track_uri": "t:b"}]}]}
    path = tmp_path / "mpd.slice.0-999.json"
    path.write_text(json.dumps(doc))
    d = load_dataset(path, use_cache=False)
    assert d.user_labels([0, 1, 2]) == ["Road trip · 7", "Sleep · 8", "9"]
    kept = prepare(d, PrepOptions(min_user=2, split="none"))
    assert list(kept.user_names) == ["Road trip · 7", "9"]
    first = load_dataset(path, cache_dir=tmp_path / "c", use_cache=True)
    again = load_dataset(path, cache_dir=tmp_path / "c", use_cache=True)
    assert again.extra["from_cache"] and again.user_labels([0, 1]) == first.user_labels([0, 1])

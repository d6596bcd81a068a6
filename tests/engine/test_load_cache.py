"""The parse cache is keyed by content: one entry per dataset, a small pointer per source."""
from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import numpy as np

from mfcore.interactions import Interactions
from mfcore.load import load_dataset
from mfcore.load import cache as cache_mod

ROWS = [(f"u{k % 13}", f"SO{(k * 7) % 17:02d}", 1 + k % 5) for k in range(120)]


def tsv(rows) -> bytes:
    return "".join(f"{u}\t{i}\t{c}\n" for u, i, c in rows).encode()


def same_rows(a: Interactions, b: Interactions) -> None:
    for f in ("users", "items", "values", "user_ids", "item_ids"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
        assert getattr(a, f).dtype == getattr(b, f).dtype


def test_txt_gz_and_a_copy_share_one_entry(tmp_path):
    txt = tmp_path / "plays.txt"
    txt.write_bytes(tsv(ROWS))
    gz = tmp_path / "plays.txt.gz"
    gz.write_bytes(gzip.compress(tsv(ROWS)))
    (tmp_path / "elsewhere").mkdir()
    copy = shutil.copy(txt, tmp_path / "elsewhere" / "plays.txt")
    cdir = tmp_path / "cache"
    a = load_dataset(txt, cache_dir=cdir, use_cache=True)
    b = load_dataset(gz, cache_dir=cdir, use_cache=True)
    c = load_dataset(copy, cache_dir=cdir, use_cache=True)
    assert not a.extra["from_cache"] and not b.extra["from_cache"]   # each source parsed once
    assert len(list(cdir.glob("*.npz"))) == 1 and len(list(cdir.glob("*.json"))) == 3
    assert a.extra["cache_path"] == b.extra["cache_path"] == c.extra["cache_path"]
    again = load_dataset(gz, cache_dir=cdir, use_cache=True)
    assert again.extra["from_cache"] is True and again.source == str(gz)
    same_rows(a, again)
    assert again.extra["format"] == "triplets" and again.n_duplicates_merged == 0
    # the stored fingerprint is the one the rows give
    fresh = Interactions(again.users, again.items, again.values, again.user_ids, again.item_ids)
    assert again.fingerprint == fresh.fingerprint == a.fingerprint
    assert not list(cdir.glob(".*.tmp"))


def test_a_changed_file_replaces_its_entry(tmp_path):
    path = tmp_path / "plays.txt"
    path.write_bytes(tsv(ROWS))
    twin = tmp_path / "twin.txt"
    twin.write_bytes(tsv(ROWS))
    cdir = tmp_path / "cache"
    a = load_dataset(path, cache_dir=cdir, use_cache=True)
    time.sleep(0.01)
    path.write_bytes(tsv(ROWS[:-3] + [("u1", "SO99", 4)]))
    b = load_dataset(path, cache_dir=cdir, use_cache=True)
    assert b.extra["from_cache"] is False and b.extra["cache_path"] != a.extra["cache_path"]
    # the old version's pointer and entry are gone: one copy per source
    assert "SO99" in set(b.item_ids) and sorted(cdir.glob("*.npz")) == [Path(b.extra["cache_path"])]
    assert len(list(cdir.glob("*.json"))) == 1
    assert load_dataset(path, cache_dir=cdir, use_cache=True).extra["from_cache"] is True
    # an entry another source still names stays
    load_dataset(twin, cache_dir=cdir, use_cache=True)
    time.sleep(0.01)
    path.write_bytes(tsv(ROWS))
    assert load_dataset(path, cache_dir=cdir, use_cache=True).extra["from_cache"] is False
    time.sleep(0.01)
    path.write_bytes(tsv(ROWS[:5]))
    load_dataset(path, cache_dir=cdir, use_cache=True)
    assert Path(a.extra["cache_path"]).exists()  # the twin's
    assert len(list(cdir.glob("*.npz"))) == 2 and len(list(cdir.glob("*.json"))) == 2
    assert load_dataset(twin, cache_dir=cdir, use_cache=True).extra["from_cache"] is True


def test_damaged_entry_or_pointer_is_rebuilt(tmp_path):
    txt = tmp_path / "plays.txt"
    txt.write_bytes(tsv(ROWS))
    gz = tmp_path / "plays.txt.gz"
    gz.write_bytes(gzip.compress(tsv(ROWS)))
    cdir = tmp_path / "cache"
    a = load_dataset(txt, cache_dir=cdir, use_cache=True)
    load_dataset(gz, cache_dir=cdir, use_cache=True)
    with open(a.extra["cache_path"], "r+b") as f:
        f.seek(40)
        f.write(b"\xff" * 200)
    b = load_dataset(gz, cache_dir=cdir, use_cache=True)     # the shared entry is rebuilt
    assert b.extra["from_cache"] is False and b.extra["cache_path"] == a.extra["cache_path"]
    same_rows(a, b)
    assert load_dataset(txt, cache_dir=cdir, use_cache=True).extra["from_cache"] is True
    for text in ("{not json", json.dumps({"v": cache_mod.CACHE_VERSION, "entry": "../x.npz",
                                          "extra": {}, "n_duplicates_merged": 0})):
        for pointer in cdir.glob("*.json"):
            pointer.write_text(text)
        c = load_dataset(txt, cache_dir=cdir, use_cache=True)
        assert c.extra["from_cache"] is False
        same_rows(a, c)
        assert load_dataset(txt, cache_dir=cdir, use_cache=True).extra["from_cache"] is True
    # an entry gone from behind its pointer: rebuilt too
    (cdir / a.extra["cache_path"].split("/")[-1]).unlink()
    assert load_dataset(gz, cache_dir=cdir, use_cache=True).extra["from_cache"] is False
    assert load_dataset(gz, cache_dir=cdir, use_cache=True).extra["from_cache"] is True


def test_version_3_entry_of_the_source_is_removed(tmp_path):
    path = tmp_path / "plays.txt"
    path.write_bytes(tsv(ROWS))
    cdir = tmp_path / "cache"
    cdir.mkdir()
    from mfcore.load._io import resolve
    stamp = cache_mod.source_stamp(resolve(path))
    options = {"max_rows": None, "duplicates": "sum", "header": "auto"}
    old = cdir / f"{cache_mod.source_key(stamp, 'triplets', options, 3)}.npz"
    old.write_bytes(b"an old entry")
    assert load_dataset(path, cache_dir=cdir, use_cache=True).extra["from_cache"] is False
    assert not old.exists()

"""MSD triplets loader: round trips, caps, cache, and one test per kind of bad input."""
from __future__ import annotations

import gzip
import time

import numpy as np
import pytest

from mfcore.errors import DataError
from mfcore.interactions import Interactions
from mfcore.load import load_dataset
from mfcore.load import cache as cache_mod
from mfcore.load.triplets import load_triplets

ROWS = [("u1", "SOB", 3), ("u1", "SOA", 1), ("u2", "SOA", 5), ("u2", "SOC", 2), ("u3", "SOB", 1)]


def write(tmp_path, name, text, *, gz=False):
    path = tmp_path / name
    data = text.encode() if isinstance(text, str) else text
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def tsv(rows):
    return "".join(f"{u}\t{i}\t{c}\n" for u, i, c in rows)


def as_dict(d: Interactions):
    return {(d.user_ids[u], d.item_ids[i]): float(v) for u, i, v in zip(d.users, d.items, d.values)}


def expect_error(path_or_src, *needles, **kw):
    with pytest.raises(DataError) as info:
        load_triplets(path_or_src, use_cache=False, **kw)
    msg = str(info.value)
    for n in needles:
        assert n in msg, msg
    return info.value


# ---- round trips ---------------------------------------------------------------------------------
@pytest.mark.parametrize("gz", [False, True])
def test_round_trip_plain_and_gzip(tmp_path, gz):
    path = write(tmp_path, "t.txt.gz" if gz else "t.txt", tsv(ROWS), gz=gz)
    d = load_triplets(path, use_cache=False)
    assert as_dict(d) == {(u, i): float(c) for u, i, c in ROWS}
    assert d.users.dtype == np.int32 and d.items.dtype == np.int32 and d.values.dtype == np.float32
    assert list(d.user_ids) == ["u1", "u2", "u3"]          # first appearance
    assert list(d.item_ids) == ["SOA", "SOB", "SOC"]       # sorted
    assert not d.implicit and d.source == str(path)
    assert d.extra["format"] == "triplets"


def test_ids_both_ways(tmp_path):
    d = load_triplets(write(tmp_path, "t.txt", tsv(ROWS)), use_cache=False)
    for u, i, c in ROWS:
        ui, ii = d.user_index(u)[0], d.item_index(i)[0]
        assert d.user_ids[ui] == u and d.item_ids[ii] == i
        row = np.flatnonzero((d.users == ui) & (d.items == ii))
        assert len(row) == 1 and d.values[row[0]] == c
    assert d.user_index("nobody")[0] == -1


def test_duplicates_summed_and_counted(tmp_path):
    rows = ROWS + [("u1", "SOB", 4), ("u2", "SOA", 1)]
    d = load_triplets(write(tmp_path, "t.txt", tsv(rows)), use_cache=False)
    assert d.n_duplicates_merged == 2 and len(d) == 5
    got = as_dict(d)
    assert got[("u1", "SOB")] == 7 and got[("u2", "SOA")] == 6
    d = load_triplets(write(tmp_path, "t.txt", tsv(rows)), duplicates="max", use_cache=False)
    assert as_dict(d)[("u1", "SOB")] == 4
    with pytest.raises(DataError, match="duplicate"):
        load_triplets(write(tmp_path, "t.txt", tsv(rows)), duplicates="error", use_cache=False)


def test_row_cap_stops_early(tmp_path):
    rows = [(f"u{k // 10}", f"SO{k % 10}", 1) for k in range(1000)]
    path = write(tmp_path, "t.txt", tsv(rows) + "garbage line without tabs\n")
    d = load_triplets(path, max_rows=25, use_cache=False)
    assert len(d) == 25 and d.n_users == 3 and d.extra["truncated"]
    assert load_dataset(path, max_rows=1000, use_cache=False).n_users == 100
    with pytest.raises(DataError, match="line 1001"):
        load_triplets(path, use_cache=False)


def test_blank_lines_crlf_bom_and_zero_counts(tmp_path):
    text = "\ufeffu1\tSOA\t0\r\n\r\nu1\tSOB\t2\r\nu2\tSOA\t1.5\r\n"
    d = load_triplets(write(tmp_path, "t.txt", text), use_cache=False)
    assert as_dict(d) == {("u1", "SOA"): 0.0, ("u1", "SOB"): 2.0, ("u2", "SOA"): 1.5}


def test_header_is_skipped_when_clearly_one(tmp_path):
    path = write(tmp_path, "t.txt", "user_id\tsong_id\tplay_count\n" + tsv(ROWS))
    d = load_triplets(path, use_cache=False)
    assert len(d) == 5 and d.extra["header_skipped"]
    err = expect_error(path, "line 1", "play_count", "not a number", header=False)
    assert err.line == 1


def test_upload_bytes_and_gzip_bytes():
    d = load_dataset(("up.txt", tsv(ROWS).encode()))
    assert len(d) == 5 and d.source == "up.txt" and not d.extra["from_cache"]
    d = load_dataset(("up.txt.gz", gzip.compress(tsv(ROWS).encode())), format="triplets")
    assert len(d) == 5


def test_grouped_sorted_file_skips_the_sort(tmp_path, monkeypatch):
    rows = [(f"user{k // 7:03d}", f"SO{(k * 3) % 7}", k) for k in range(70)]
    rows = sorted(rows, key=lambda r: (r[0], r[1]))
    calls = []
    orig = np.argsort
    monkeypatch.setattr(np, "argsort", lambda *a, **k: calls.append(1) or orig(*a, **k))
    d = load_triplets(write(tmp_path, "t.txt", tsv(rows)), use_cache=False)
    assert len(d) == len({(r[0], r[1]) for r in rows}) and not calls


# ---- cache ---------------------------------------------------------------------------------------
def test_cache_hit_returns_identical_arrays(tmp_path):
    path = write(tmp_path, "big.txt", tsv(ROWS + [("u9", "SOZ", 2)]))
    cdir = tmp_path / "cache"
    a = load_dataset(path, cache_dir=cdir, use_cache=True)
    assert a.extra["from_cache"] is False and a.extra["cache_path"]
    b = load_dataset(path, cache_dir=cdir, use_cache=True)
    assert b.extra["from_cache"] is True
    for f in ("users", "items", "values", "user_ids", "item_ids"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
        assert getattr(a, f).dtype == getattr(b, f).dtype
    assert b.fingerprint == a.fingerprint and b.source == a.source
    assert not list(cdir.glob("*.tmp"))
    # different options -> a different entry
    c = load_dataset(path, cache_dir=cdir, use_cache=True, max_rows=2)
    assert c.extra["from_cache"] is False and len(c) == 2
    # a changed file is not served from the stale entry
    time.sleep(0.01)
    path.write_text(tsv(ROWS[:2]))
    d = load_dataset(path, cache_dir=cdir, use_cache=True)
    assert d.extra["from_cache"] is False and len(d) == 2


def test_damaged_cache_entry_is_rebuilt(tmp_path):
    path = write(tmp_path, "t.txt", tsv(ROWS))
    cdir = tmp_path / "cache"
    a = load_triplets(path, cache_dir=cdir, use_cache=True)
    entry = a.extra["cache_path"]
    with open(entry, "r+b") as f:
        f.seek(40)
        f.write(b"\xff" * 200)
    b = load_triplets(path, cache_dir=cdir, use_cache=True)
    assert b.extra["from_cache"] is False
    np.testing.assert_array_equal(a.values, b.values)
    assert load_triplets(path, cache_dir=cdir, use_cache=True).extra["from_cache"] is True


def test_cache_dir_env_and_auto_threshold(tmp_path, monkeypatch):
    monkeypatch.setenv("MFCORE_CACHE_DIR", str(tmp_path / "envcache"))
    assert cache_mod.default_cache_dir() == tmp_path / "envcache"
    path = write(tmp_path, "t.txt", tsv(ROWS))
    d = load_triplets(path)                       # 'auto': small files are not cached
    assert d.extra["from_cache"] is False and d.extra["cache_path"] is None
    d = load_triplets(path, use_cache=True)
    assert str(tmp_path / "envcache") in d.extra["cache_path"]


# ---- bad input -----------------------------------------------------------------------------------
def test_wrong_column_count(tmp_path):
    path = write(tmp_path, "t.txt", tsv(ROWS) + "u4\tSOA\t1\textra\n")
    err = expect_error(path, str(path), "line 6", "expected 3 tab-separated fields, found 4")
    assert err.line == 6 and err.source == str(path)


def test_comma_file_read_as_tab(tmp_path):
    path = write(tmp_path, "t.txt", "u1,SOA,1\nu2,SOB,2\n")
    expect_error(path, str(path), "line 1", "expected 3 tab-separated fields, found 1", "comma")


def test_non_numeric_count(tmp_path):
    path = write(tmp_path, "t.txt", tsv(ROWS) + "u4\tSOA\tlots\n")
    err = expect_error(path, "line 6", "play_count", "'lots' is not a number")
    assert err.field == "play_count"


def test_negative_count(tmp_path):
    path = write(tmp_path, "t.txt", tsv(ROWS[:2]) + "u4\tSOA\t-3\n" + tsv(ROWS[2:]))
    expect_error(path, "line 3", "negative", "-3")


@pytest.mark.parametrize("bad, words", [("nan", "NaN"), ("NaN", "NaN"), ("inf", "infinite"),
                                        ("-inf", "infinite"), ("1e309", "infinite"),
                                        ("1e39", "overflows float32"), ("", "not a number")])
def test_non_finite_and_overflowing_counts(tmp_path, bad, words):
    path = write(tmp_path, "t.txt", tsv(ROWS) + f"u4\tSOA\t{bad}\n")
    expect_error(path, str(path), "line 6", words)


def test_utf16_with_bom(tmp_path):
    path = write(tmp_path, "t.txt", tsv(ROWS).encode("utf-16"))
    expect_error(path, str(path), "UTF-16", "line 1")


def test_latin1_bytes_in_utf8_file(tmp_path):
    path = write(tmp_path, "t.txt", tsv(ROWS).encode() + "Beyonc\xe9\tSOA\t1\n".encode("latin-1"))
    expect_error(path, "line 6", "invalid UTF-8", "Latin-1")


def test_nul_bytes(tmp_path):
    path = write(tmp_path, "t.txt", tsv(ROWS) + "u\x004\tSOA\t1\n")
    expect_error(path, "line 6", "NUL")


def test_empty_id(tmp_path):
    path = write(tmp_path, "t.txt", tsv(ROWS) + "\tSOA\t1\n")
    expect_error(path, "line 6", "empty user id")


@pytest.mark.parametrize("text", ["", "\n\n", "   "])
def test_empty_file(tmp_path, text):
    path = write(tmp_path, "t.txt", text)
    with pytest.raises(DataError) as info:
        load_triplets(path, use_cache=False)
    assert str(path) in str(info.value)
    assert "empty" in str(info.value) or "expected 3" in str(info.value)


def test_single_huge_line(tmp_path):
    path = write(tmp_path, "t.txt", b"x" * (50 << 20))
    expect_error(path, str(path), "line 1", "longer than")


def test_gz_name_but_not_gzip(tmp_path):
    path = write(tmp_path, "t.txt.gz", tsv(ROWS))
    expect_error(path, str(path), "not gzip")


def test_truncated_gzip(tmp_path):
    blob = gzip.compress(tsv(ROWS * 2000).encode())
    path = write(tmp_path, "t.txt.gz", blob[: len(blob) // 2])
    expect_error(path, str(path), "truncated")


def test_gzip_bomb_refused_while_decompressing(tmp_path):
    member = gzip.compress(b"u\tSOA\t1\n" * (1 << 17))        # 1 MiB of text, ~2 KiB compressed
    path = write(tmp_path, "bomb.txt.gz", member * 4096)        # 4 GiB once decompressed
    assert path.stat().st_size < 16 << 20
    t0 = time.perf_counter()
    expect_error(path, str(path), "exceeds the limit of 8,388,608 bytes",
                 max_decompressed_bytes=8 << 20)
    assert time.perf_counter() - t0 < 20      # decompressing all 4 GiB would take far longer


def test_folder_is_not_a_triplets_file(tmp_path):
    expect_error(tmp_path, "folder")


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_dataset(tmp_path / "nope.txt")


# ---- the from_codes fast path (mfcore/interactions.py) -------------------------------------------
def test_from_codes_sorted_fast_path_matches_general_path():
    rng = np.random.default_rng(0)
    key = np.unique(rng.integers(0, 500 * 300, 5000))
    users, items = (key // 300).astype(np.int32), (key % 300).astype(np.int32)
    values = rng.random(len(key)).astype(np.float32)
    uid, iid = np.arange(500), np.arange(300)
    fast = Interactions.from_codes(users, items, values, uid, iid)
    perm = rng.permutation(len(key))
    slow = Interactions.from_codes(users[perm], items[perm], values[perm], uid, iid)
    for f in ("users", "items", "values"):
        np.testing.assert_array_equal(getattr(fast, f), getattr(slow, f))
    assert fast.n_duplicates_merged == 0
    one = Interactions.from_codes(np.array([3]), np.array([2]), np.array([1.0]), uid, iid)
    assert len(one) == 1
    # equal keys (duplicates) must still be merged
    dup = Interactions.from_codes(np.array([0, 0, 1]), np.array([1, 1, 0]),
                                  np.array([1.0, 2.0, 3.0]), uid, iid)
    assert len(dup) == 2 and dup.n_duplicates_merged == 1 and dup.values[0] == 3.0


def test_strictly_sorted_checks_chunk_boundaries():
    from mfcore.rowindex import strictly_sorted
    users = np.zeros(10, np.int32)
    items = np.arange(10, dtype=np.int32)
    assert strictly_sorted(users, items, 10, chunk=3)
    items[6] = 5                        # equal to the previous one, right at a chunk edge
    assert not strictly_sorted(users, items, 10, chunk=3)
    items[6] = 4
    assert not strictly_sorted(users, items, 10, chunk=3)


# ---- real data -----------------------------------------------------------------------------------
def test_real_msd_subset(shared_data, tmp_path):
    path = shared_data / "msd_taste_subset" / "10000.txt"
    d = load_dataset(path, cache_dir=tmp_path, use_cache=True)
    assert (len(d), d.n_users, d.n_items) == (42_739, 1_630, 9_071)
    assert d.n_duplicates_merged == 0 and d.values.min() == 1 and d.values.max() == 796
    assert d.user_ids[0] == "b80344d063b5ccb3212f76538f3d9e43d87dca9e"
    again = load_dataset(path, cache_dir=tmp_path, use_cache=True)
    assert again.extra["from_cache"] and again.fingerprint == d.fingerprint
    capped = load_dataset(path, max_rows=1000, use_cache=False)
    assert len(capped) == 1000


def test_huge_line_after_good_rows(tmp_path):
    path = write(tmp_path, "t.txt", tsv(ROWS).encode() + b"y" * (20 << 20) + b"\n")
    expect_error(path, str(path), "line 6", "longer than")

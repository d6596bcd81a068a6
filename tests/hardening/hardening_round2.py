"""The second round of the hostile-input catalogue (issue 11): escapes from the data folder,
FIFOs and devices, damaged archives, wrong data that used to load, numbers beyond their type,
and hostile model files. Each case names the class it belongs to in its name."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import numpy as np

from hardening_cases import (PAIRS, Case, half, model_meta, model_raw_meta, model_with,
                             model_zip, mpd_doc, npy_header_only, npy_zeros, parquet,
                             sqlite_bytes, tar_bad_checksum, tar_cut_at_boundary,
                             tar_cut_in_data, tar_cut_in_header, tar_repeated_pid, text)

ROWS = "".join(f"u{u}\tSO{(u * 3 + j) % 9}\t{1 + j}\n" for u in range(5) for j in range(2))
CSV = "user,song,plays\nu1,s1,3\nu2,s2,4\nu3,s1,1\n"
PAIRS_CSV = "user,song\nu1,s1\nu2,s2\nu3,s1\n"
LONG_ID = "x" * 600_000                   # over mfcore.idcodec.MAX_ID_CHARS (524,288)


# ---- on-disk cases: each returns (path to load, load options, what the message starts with) ----
def _data(tmp: Path) -> Path:
    data = tmp / "data"
    data.mkdir(exist_ok=True)
    return data


def folder_slice_linked_outside(tmp: Path):
    data = _data(tmp)
    (data / "mpd").mkdir()
    (tmp / "secret.json").write_text(mpd_doc())
    (data / "mpd" / "mpd.slice.0-999.json").symlink_to(tmp / "secret.json")
    return data / "mpd", {"confine_to": data}, str(data / "mpd")


def folder_slice_relative_link(tmp: Path):
    data = _data(tmp)
    (data / "mpd").mkdir()
    (data / "mpd" / "mpd.slice.0-999.json").write_text(mpd_doc())
    (tmp / "secret.json").write_text(mpd_doc(pids=(7, 8, 9)))
    (data / "mpd" / "mpd.slice.1000-1999.json").symlink_to("../../secret.json")
    return data / "mpd", {"confine_to": data}, str(data / "mpd")


def metadata_linked_outside(tmp: Path):
    data = _data(tmp)
    (data / "plays.tsv").write_text(ROWS)
    (tmp / "secret.csv").write_text("song_id,title\nSO1,x\n")
    (data / "meta.csv").symlink_to(tmp / "secret.csv")
    return data / "plays.tsv", {"confine_to": data, "metadata": str(data / "meta.csv")}, \
        str(data / "meta.csv")


def source_linked_outside(tmp: Path):
    data = _data(tmp)
    (tmp / "secret.tsv").write_text(ROWS)
    (data / "plays.tsv").symlink_to(tmp / "secret.tsv")
    return data / "plays.tsv", {"confine_to": data}, str(data / "plays.tsv")


def sqlite_wal_linked_outside(tmp: Path):
    data = _data(tmp)
    (data / "pl.db").write_bytes(sqlite_bytes(*PAIRS))
    (tmp / "secret.db-wal").write_bytes(b"\x00" * 64)
    (data / "pl.db-wal").symlink_to(tmp / "secret.db-wal")
    return data / "pl.db", {"confine_to": data}, str(data / "pl.db-wal")


def slice_link_loop(tmp: Path):
    folder = tmp / "mpd"
    folder.mkdir()
    (folder / "mpd.slice.0-999.json").symlink_to(folder / "mpd.slice.0-999.json")
    return folder, {}, str(folder)


def fifo(name: str, where: str = "file"):
    def make(tmp: Path):
        if where == "slice":
            (tmp / "mpd").mkdir()
            path = tmp / "mpd" / "mpd.slice.0-999.json"
            os.mkfifo(path)
            return tmp / "mpd", {}, str(tmp / "mpd")
        path = tmp / name
        os.mkfifo(path)
        if where == "metadata":
            (tmp / "plays.tsv").write_text(ROWS)
            return tmp / "plays.tsv", {"metadata": str(path)}, str(path)
        return path, {}, str(path)
    return make


def device_link(tmp: Path):
    (tmp / "plays.tsv").symlink_to("/dev/zero")
    return tmp / "plays.tsv", {}, str(tmp / "plays.tsv")


def unix_socket(tmp: Path):
    path = tmp / "plays.tsv"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(path))
    s.close()
    return path, {}, str(path)


def _sqlite_row(value) -> bytes:
    return sqlite_bytes("CREATE TABLE pairings (pid, tid)",
                        params=("INSERT INTO pairings VALUES (?, ?)", [(1, "a"), (2, value)]))


ROUND2 = [
    # ---- escapes from the data folder (on disk; confined to tmp/data) ----
    Case("escape: MPD slice linked outside", "", None, ("outside the data folder",),
         disk=folder_slice_linked_outside),
    Case("escape: MPD slice, relative link up and out", "", None, ("outside the data folder",),
         disk=folder_slice_relative_link),
    Case("escape: metadata linked outside", "", None, ("outside the data folder",),
         disk=metadata_linked_outside),
    Case("escape: data file linked outside", "", None, ("outside the data folder",),
         disk=source_linked_outside),
    Case("escape: SQLite -wal linked outside", "", None, ("outside the data folder",),
         disk=sqlite_wal_linked_outside),
    Case("escape: slice that links to itself", "", None, ("cannot be resolved",),
         disk=slice_link_loop),
    # ---- FIFOs, devices, sockets: refused before opening ----
    Case("FIFO: data file", "", None, ("is a FIFO", "not a regular file"),
         disk=fifo("plays.tsv")),
    Case("FIFO: an MPD slice", "", None, ("is a FIFO",), disk=fifo("", "slice")),
    Case("FIFO: metadata file", "", None, ("is a FIFO",), disk=fifo("meta.csv", "metadata")),
    Case("FIFO: model file", "", None, ("is a FIFO",), disk=fifo("model.npz"), entry="model"),
    Case("device: data file linked to /dev/zero", "", None, ("is a character device",),
         disk=device_link),
    Case("socket: data file", "", None, ("is a socket",), disk=unix_socket),
    # ---- damaged archives: never a partial load ----
    Case("tar: cut inside the third header", "mpd.tar", tar_cut_in_header(),
         ("after member 'mpd/mpd.slice.1000-1999.json'", "truncated header"), ui=True),
    Case("tar.gz: cut inside the third header", "mpd.tar.gz", tar_cut_in_header(gz=True),
         ("after member", "member header at byte", "truncated"), ui=True),
    Case("tar: bad header checksum", "mpd.tar", tar_bad_checksum(),
         ("after member 'mpd/mpd.slice.0-999.json'", "bad checksum")),
    Case("tar.gz: bad header checksum", "mpd.tar.gz", tar_bad_checksum(gz=True),
         ("after member", "member header at byte", "bad checksum"), ui=True),
    Case("tar: cut at a member boundary", "mpd.tar", tar_cut_at_boundary,
         ("without the end-of-archive blocks",)),
    Case("tar: cut inside a member", "mpd.tar", tar_cut_in_data, ("truncated",)),
    Case("Parquet: cut in half", "plays.parquet", lambda: half(parquet(
        {"u": ["a", "b"] * 500, "i": ["x", "y"] * 500, "v": [1.0, 2.0] * 500})),
         ("not a readable Parquet file",)),
    # ---- wrong data that used to load ----
    Case("sum: duplicates overflow float32", "plays.txt",
         text(ROWS + "u9\tSO1\t3e38\nu9\tSO1\t3e38\n"), ("sum to 6e+38", "float32"), ui=True),
    Case("MPD: two playlists share a pid", "mpd.slice.0-999.json",
         text(mpd_doc(pids=(4, 5, 4))), ("playlist #3 repeats pid 4 of playlist #1",), ui=True),
    Case("MPD: a pid repeated across slices", "mpd.tar", tar_repeated_pid,
         ("mpd.slice.1000-1999.json", "repeats pid 2", "mpd.slice.0-999.json")),
    Case("MPD: pid 5 beside pid '5'", "mpd.slice.0-999.json",
         text(mpd_doc(pids=(5, 6, 7)).replace('"pid": 7', '"pid": "5"')), ("repeats pid '5'",)),
    Case("MPD: track_uri with a NUL", "mpd.slice.0-999.json",
         text(mpd_doc(uri="spotify:\x00x")), ("track #1", "NUL")),
    Case("CSV: header repeated mid-file (no value column)", "pairs.csv",
         text(PAIRS_CSV + "user,song\nu4,s4\n"), ("line 5", "header line", "repeated"),
         ui=True),
    Case("TSV: header repeated mid-file", "plays.tsv",
         text(CSV.replace(",", "\t") + "user\tsong\tplays\nu4\ts4\t1\n"),
         ("line 5", "header line")),
    Case("triplets: header repeated mid-file", "plays.txt",
         text("user_id\tsong_id\tplay_count\n" + ROWS + "user_id\tsong_id\tplay_count\n"),
         ("line 12", "header line")),
    Case("CSV: quoted id spanning two lines", "plays.csv",
         text(CSV + 'u4,"s\n4",2\nu5,s5,1\n'), ("line 5", "quote")),
    Case("CSV: text after a closing quote", "plays.csv", text(CSV + 'u4,"s4"x,2\n'),
         ("line 5", "quote"), ui=True),
    Case("CSV: byte-order mark mid-file", "plays.csv",
         text(CSV + "\ufeffuser,song,plays\nu4,s4,1\n"), ("line 5", "byte-order mark"), ui=True),
    Case("triplets: byte-order mark mid-file", "plays.txt", text(ROWS + "\ufeffu9\tSO1\t1\n"),
         ("line 11", "byte-order mark")),
    # U+FF21's UTF-8 starts with the mark's first byte (0xEF): the scan must look past it.
    Case("triplets: byte-order mark after a fullwidth id", "plays.txt",
         text(ROWS + "u\uff21\tSO1\t1\n\ufeffu9\tSO1\t1\n"), ("line 12", "byte-order mark")),
    Case("triplets: CR-only line ends", "plays.txt", text(ROWS.replace("\n", "\r")),
         ("line 1", "CR-only"), ui=True),
    Case("CSV: CR-only line ends", "plays.csv", text(CSV.replace("\n", "\r")),
         ("line 1", "CR-only")),
    Case("triplets: a lone CR mid-file", "plays.txt", text(ROWS + "u9\tSO1\t1\ru8\tSO2\t1\n"),
         ("line 11", "carriage return")),
    Case("triplets: id over the length limit", "plays.txt",
         text(ROWS + f"{LONG_ID}\tSO1\t1\n"), ("line 11", "600,000 characters")),
    Case("Parquet: NaN id", "plays.parquet",
         lambda: parquet({"u": [1.0, float("nan")], "i": ["x", "y"], "v": [1.0, 2.0]}),
         ("field 'u'", "row 2", "NaN user id"), ui=True),
    Case("Parquet: empty id", "plays.parquet",
         lambda: parquet({"u": ["a", "b"], "i": ["x", ""], "v": [1.0, 2.0]}),
         ("field 'i'", "row 2", "empty item id")),
    Case("Parquet: NUL in an id", "plays.parquet",
         lambda: parquet({"u": ["a", "b\x00c"], "i": ["x", "y"], "v": [1.0, 2.0]}),
         ("row 2", "NUL byte in the user id")),
    Case("SQLite: BLOB id", "pl.db", lambda: _sqlite_row(b"\x01\x02"),
         ("field 'tid'", "row 2", "BLOB"), ui=True),
    Case("SQLite: empty text id", "pl.db", lambda: _sqlite_row(""), ("row 2", "empty item id")),
    # ---- numbers beyond their type in file fields ----
    Case("number: count 1e39 (beyond float32)", "plays.txt", text(ROWS + "u9\tSO1\t1e39\n"),
         ("line 11", "overflows float32")),
    Case("number: MPD pid beyond int64", "mpd.slice.0-999.json",
         text(mpd_doc(pids=(1, 2, 2**70))), ("playlist #3", "beyond the 64-bit")),
    Case("number: SQLite value beyond float32", "pl.db", lambda: sqlite_bytes(
        "CREATE TABLE pairings (pid, tid, v)", "INSERT INTO pairings VALUES (1, 2, 1e39)"),
         ("row 1", "within float32"), kw={"value_col": "v"}),
    Case("number: Parquet value beyond float32", "plays.parquet",
         lambda: parquet({"u": ["a", "b"], "i": ["x", "y"], "v": [1.0, 1e39]}),
         ("row 2", "beyond float32's range")),
    # ---- model files ----
    Case("model: .npy header declares a terabyte", "model.npz",
         model_zip("user_bias", npy_header_only((1 << 38,))),
         ("'user_bias'", "1,099,511,627,776 bytes", "holds 16"), entry="model"),
    Case("model: highly compressed member", "model.npz",
         model_zip("item_bias", npy_zeros(8 << 20), compress=True),
         ("'item_bias'", "more than 64 times"), entry="model"),
    Case("model: duplicate user ids", "model.npz",
         model_with(user_ids_offsets=np.array([0, 2, 4, 6]),
                    user_ids_data=np.frombuffer(b"u0u0u2", np.uint8)),
         ("'user_ids' repeats the id 'u0'", "entries 1 and 2"), entry="model"),
    Case("model: meta_json status is a number", "model.npz", model_meta(status=5),
         ("field 'status'", "a string or null, got 5"), entry="model"),
    Case("model: meta_json params is a list", "model.npz", model_meta(params=[1, 2]),
         ("field 'params'", "an object"), entry="model"),
    Case("model: meta_json n_users is text", "model.npz", model_meta(n_users="3"),
         ("field 'n_users'", "an integer"), entry="model"),
    Case("model: meta_json n_users disagrees", "model.npz", model_meta(n_users=4),
         ("n_users = 4", "hold 3"), entry="model"),
    Case("model: meta_json id kind unknown", "model.npz",
         model_meta(id_kinds={"user_ids": "float", "item_ids": "str"}), ("'id_kinds'",),
         entry="model"),
    Case("model: meta_json history entry malformed", "model.npz", model_meta(history=[5]),
         ("malformed history entry",), entry="model"),
    Case("model: meta_json diverged_at malformed", "model.npz", model_meta(diverged_at=[1]),
         ("'diverged_at'", "pair"), entry="model"),
    Case("model: format version 0", "model.npz", model_meta(format_version=0),
         ("format version 0",), entry="model"),
    Case("model: meta_json nested too deeply", "model.npz",
         model_raw_meta('{"format": "mfcore-model", "x": ' + "[" * 100_000 + "]" * 100_000
                        + "}"), ("nested too deeply",), entry="model"),
    Case("model: id offsets inconsistent", "model.npz",
         model_with(item_ids_offsets=np.array([0, 5, 4])), ("'item_ids'", "offsets"),
         entry="model"),
    Case("model: id over the length limit", "model.npz",
         model_with(item_ids_offsets=np.array([0, 2, 2 + len(LONG_ID)]),
                    item_ids_data=np.frombuffer(b"i0" + LONG_ID.encode(), np.uint8)),
         ("600,000 characters",), entry="model"),
    Case("model: version-1 int ids beyond int64", "model.npz",
         model_with(meta={"format_version": 1, "id_kinds": {"user_ids": "int",
                                                             "item_ids": "str"}},
                    user_ids=np.array(["1", "2", "9" * 30]), item_ids=np.array(["a", "b"])),
         ("'user_ids'", "64-bit integers"), entry="model"),
]

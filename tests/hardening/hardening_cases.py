"""What the hostile-input catalogue (tests/test_hardening_inputs.py) is made of: the case type and
the builders of hostile files (text, MPD JSON and tar archives, SQLite, Parquet, model files)."""
from __future__ import annotations

import gzip
import io
import json
import sqlite3
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np


@dataclass(frozen=True)
class Case:
    """One hostile input: its file name and bytes, the load options, the expected fragments.

    ``disk`` cases exist only on disk (links, FIFOs, folders): ``disk(tmp_path)`` makes them and
    returns the path to load and extra load options; they run from a path only.
    """

    name: str
    filename: str
    build: Callable[[], bytes] | None
    words: tuple[str, ...]              # fragments of the message (besides the file name)
    kw: dict = field(default_factory=dict)
    ui: bool = False                    # also driven through the Data page's upload
    entry: str = "data"                 # 'data' (load_dataset) or 'model' (load_model)
    disk: Callable[[Path], tuple[Path, dict]] | None = None


def text(s: str) -> Callable[[], bytes]:
    return lambda: s.encode()


def mpd_doc(num_tracks="3", pids=(0, 1, 2), uri=None) -> str:
    pls = [{"name": f"pl{p}", "pid": p, "num_tracks": 3,
            "tracks": [{"pos": k, "track_uri": uri or f"spotify:track:{p}{k}", "track_name": "t",
                        "artist_name": "a"} for k in range(3)]} for p in pids]
    text_ = json.dumps({"info": {"slice": "0-999"}, "playlists": pls}, indent=1)
    return text_.replace('"num_tracks": 3', f'"num_tracks": {num_tracks}', 1)


def sqlite_bytes(*statements: str, params: tuple = ()) -> bytes:
    """A SQLite file made by ``statements``; ``params`` is (statement, rows) for executemany."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.db"
        conn = sqlite3.connect(path)
        for s in statements:
            conn.execute(s)
        if params:
            conn.executemany(*params)
        conn.commit()
        conn.close()
        return path.read_bytes()


PAIRS = ("CREATE TABLE pairings (pid INTEGER, tid INTEGER)",
         "INSERT INTO pairings VALUES (1, 10), (1, 11), (2, 10)")


def parquet(columns: dict) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq
    buf = io.BytesIO()
    pq.write_table(pa.table(columns), buf)
    return buf.getvalue()


def npz_bytes(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def half(blob: bytes) -> bytes:
    return blob[:len(blob) // 2]


# ---- MPD archives ------------------------------------------------------------------------------
def mpd_tar(n: int = 3, pid_step: int = 1000) -> tuple[bytes, list[int]]:
    """A plain tar of ``n`` valid slices (distinct pids) and the byte offset of each header."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for s in range(n):
            data = mpd_doc(pids=(s * pid_step, s * pid_step + 1, s * pid_step + 2)).encode()
            info = tarfile.TarInfo(f"mpd/mpd.slice.{s * 1000}-{s * 1000 + 999}.json")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    blob = buf.getvalue()
    return blob, [m.offset for m in tarfile.open(fileobj=io.BytesIO(blob)).getmembers()]


def tar_cut_in_header(gz: bool = False) -> Callable[[], bytes]:
    def build() -> bytes:
        blob, offs = mpd_tar()
        cut = blob[:offs[2] + 100]
        return gzip.compress(cut) if gz else cut
    return build


def tar_bad_checksum(gz: bool = False) -> Callable[[], bytes]:
    def build() -> bytes:
        blob, offs = mpd_tar()
        b = bytearray(blob)
        b[offs[1] + 148:offs[1] + 156] = b"0000001\x00"   # a valid octal number, a wrong sum
        return gzip.compress(bytes(b)) if gz else bytes(b)
    return build


def tar_cut_at_boundary() -> bytes:
    blob, offs = mpd_tar()
    return blob[:offs[2]]


def tar_cut_in_data() -> bytes:
    blob, offs = mpd_tar()
    return blob[:offs[2] + 512 + 40]


def tar_repeated_pid() -> bytes:
    blob, _ = mpd_tar(pid_step=2)  # slice 0 has pids 0-2, slice 1 has 2-4: pid 2 twice
    return blob


# ---- model files -------------------------------------------------------------------------------
def model_arrays(user_ids=("u0", "u1", "u2"), item_ids=("i0", "i1")) -> dict:
    """The arrays of a small valid model file (format 2), as written by save_model."""
    from mfcore.model import FactorModel
    from mfcore.modelio import save_model

    nu, ni = len(user_ids), len(item_ids)
    model = FactorModel(user_factors=np.ones((nu, 2)), item_factors=np.ones((ni, 2)),
                        user_bias=np.zeros(nu), item_bias=np.zeros(ni), global_mean=0.0,
                        user_ids=np.array(user_ids, dtype=object),
                        item_ids=np.array(item_ids, dtype=object), params={"seed": 0})
    with tempfile.TemporaryDirectory() as tmp:
        path = save_model(model, Path(tmp) / "m.npz")
        with np.load(path, allow_pickle=False) as z:
            return {n: z[n] for n in z.files}


def model_with(meta: dict | None = None, **replaced) -> Callable[[], bytes]:
    """A model file with arrays replaced (None removes one) and ``meta`` fields changed."""
    def build() -> bytes:
        arrays = model_arrays()
        fields = json.loads(str(arrays["meta_json"][()]))
        fields.update(meta or {})
        arrays["meta_json"] = np.array(json.dumps(fields))
        for k, v in replaced.items():
            if v is None:
                arrays.pop(k, None)
            else:
                arrays[k] = v
        return npz_bytes(**arrays)
    return build


def model_meta(**fields) -> Callable[[], bytes]:
    return model_with(meta=fields)


def model_raw_meta(text_: str) -> Callable[[], bytes]:
    def build() -> bytes:
        arrays = model_arrays()
        arrays["meta_json"] = np.array(text_)
        return npz_bytes(**arrays)
    return build


def model_zip(member: str, npy: bytes, compress: bool = False) -> Callable[[], bytes]:
    """A valid model file whose ``member`` is replaced by the raw ``.npy`` bytes given."""
    def build() -> bytes:
        good = npz_bytes(**model_arrays())
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(good)) as src, zipfile.ZipFile(out, "w") as dst:
            for info in src.infolist():
                data = npy if info.filename == member + ".npy" else src.read(info)
                dst.writestr(info.filename, data, compress_type=zipfile.ZIP_DEFLATED
                             if compress and info.filename == member + ".npy"
                             else zipfile.ZIP_STORED)
        return out.getvalue()
    return build


def npy_header_only(shape, dtype="<f4") -> bytes:
    """A .npy header declaring ``shape`` followed by 16 bytes of data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False,
                                              "shape": shape})
    return buf.getvalue() + b"\x00" * 16


def npy_zeros(n: int) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.zeros(n, dtype=np.float32))
    return buf.getvalue()

"""Hostile-input catalogue: every case must give a clear error naming the file and the line or
field, through the engine (``load_dataset`` / ``load_model``) and through the Data page's upload,
and must leave the session's dataset and model exactly as they were.

One table (:data:`CASES`: the first round's 46 cases, then :data:`hardening_round2.ROUND2`)
drives all tests: (a) every case against ``mfcore.load.load_dataset``
(from a file on disk and as an in-memory upload), (b) the cases marked ``ui`` through
``streamlit.testing.v1.AppTest`` — the Data page's real file uploader and "Load upload" button —
in one session that already has a trained model.
"""
from __future__ import annotations

import gzip
import json
import threading
import time

import numpy as np
import pytest

from hardening_cases import (PAIRS, Case, half as _half, mpd_doc, npz_bytes, parquet,
                             sqlite_bytes, text)
from hardening_round2 import ROUND2
from mfcore.errors import DataError, ModelFileError
from mfcore.load import load_dataset
from mfcore.modelio import load_model

ROWS = "".join(f"u{u}\tSO{(u * 3 + j) % 9}\t{1 + j}\n" for u in range(5) for j in range(2))
CSV = "user,song,plays\nu1,s1,3\nu2,s2,4\nu3,s1,1\n"
BIG_CAP = 8 << 20  # the decompression cap of the gzip-bomb case (8 MiB)


def gzip_bomb() -> bytes:
    """~1.6 MB that expand to 1 GiB of valid triplets: only the cap stops it."""
    member = gzip.compress(b"u\tSOA\t1\n" * (1 << 17), 9)  # 1 MiB of text
    return member * 1024


_parquet = parquet


CASES = [
    # ---- triplets / delimited text ----
    Case("extra field", "plays.txt", text(ROWS + "u9\tSO1\t2\textra\n"),
         ("line 11", "expected 3 tab-separated fields, found 4"), ui=True),
    Case("missing field", "plays.txt", text(ROWS + "u9\tSO1\n"),
         ("line 11", "found 2")),
    Case("wrong delimiter (one comma line)", "plays.txt", text(ROWS + "u9,SO1,2\n"),
         ("line 11", "found 1", "comma")),
    Case("wrong delimiter (format forced)", "plays.txt", text("u1;SO1;2\nu2;SO2;3\n"),
         ("line 1", "expected 3 tab-separated fields"), kw={"format": "triplets"}),
    Case("header row in the middle", "plays.txt",
         text(ROWS + "user\tsong\tplay_count\n" + ROWS), ("line 11", "is not a number")),
    Case("non-numeric count", "plays.txt", text(ROWS + "u9\tSO1\tlots\n"),
         ("line 11", "'play_count'", "'lots' is not a number"), ui=True),
    Case("negative count", "plays.txt", text(ROWS + "u9\tSO1\t-3\n"),
         ("line 11", "negative")),
    Case("NaN count", "plays.txt", text(ROWS + "u9\tSO1\tnan\n"), ("line 11", "NaN"), ui=True),
    Case("inf count", "plays.txt", text(ROWS + "u9\tSO1\tinf\n"), ("line 11", "infinite")),
    Case("1e309 count", "plays.txt", text(ROWS + "u9\tSO1\t1e309\n"),
         ("line 11", "infinite"), ui=True),
    Case("empty user id", "plays.txt", text(ROWS + "\tSO1\t1\n"), ("line 11", "empty user id")),
    Case("UTF-16 with BOM", "plays.txt", lambda: ROWS.encode("utf-16"),
         ("line 1", "UTF-16"), ui=True),
    Case("UTF-16 without BOM", "plays.txt", lambda: ROWS.encode("utf-16-le"),
         ("line 1", "UTF-16")),
    Case("Latin-1 bytes", "plays.txt", lambda: ROWS.encode() + "Beyonc\xe9\tSO1\t1\n".encode(
        "latin-1"), ("line 11", "invalid UTF-8", "Latin-1"), ui=True),
    Case("NUL byte", "plays.txt", text(ROWS + "u\x009\tSO1\t1\n"), ("line 11", "NUL"), ui=True),
    Case("empty file", "plays.txt", text(""), ("empty",), ui=True),
    Case("whitespace only", "plays.txt", text("\n  \n\t\n"), ("empty",)),
    Case("single 50 MB line", "plays.txt", lambda: b"x" * (50 << 20),
         ("line 1", "longer than")),
    Case("50 MB line after a CSV header", "plays.csv",
         lambda: b"user,song,plays\n" + b"x" * (50 << 20) + b"\n", ("line 2", "longer than")),
    Case("binary junk", "plays.txt", lambda: bytes(range(256)) * 64, ("binary",)),
    # ---- compression ----
    Case(".gz that is not gzip", "plays.txt.gz", text(ROWS), ("not gzip",), ui=True),
    Case("truncated gzip", "plays.txt.gz",
         lambda: _half(gzip.compress(ROWS.encode() * 5000)), ("truncated",)),
    Case("gzip bomb", "bomb.txt.gz", gzip_bomb, ("exceeds the limit of 8,388,608 bytes",),
         kw={"max_decompressed_bytes": BIG_CAP}, ui=True),
    # ---- CSV ----
    Case("unbalanced quote", "plays.csv", text('user,song,plays\nu1,"s1,3\nu2,s2,4\n'),
         ("line 2", "quote"), ui=True),
    Case("CSV wrong field count", "plays.csv", text(CSV + "u4,s3\n"),
         ("line 5", "expected 3 comma-separated fields, found 2")),
    Case("CSV non-numeric value", "plays.csv", text(CSV + "u4,s3,many\n"),
         ("line 5", "'plays'", "not a number")),
    Case("CSV missing named column", "plays.csv", text(CSV),
         ("field 'userId'", "'user', 'song', 'plays'"), kw={"user_col": "userId"}),
    # ---- MPD JSON ----
    Case("truncated JSON", "mpd.slice.0-999.json", lambda: mpd_doc()[:700].encode(),
         ("line", "truncated"), ui=True),
    Case("deeply nested JSON", "mpd.slice.0-999.json",
         text('{"playlists": ' + "[" * 100_000 + "]" * 100_000 + "}"),
         ("nested too deeply",)),
    Case("JSON NaN", "mpd.slice.0-999.json", text(mpd_doc("NaN")),
         ("line 9", "NaN is not valid JSON"), ui=True),
    Case("JSON missing track_uri", "mpd.slice.0-999.json",
         text(json.dumps({"playlists": [{"pid": 3, "tracks": [{"track_name": "x"}]}]})),
         ("playlist #1", "track_uri")),
    Case("JSON without playlists", "mpd.slice.0-999.json", text('{"info": {}}'),
         ("'playlists' list",)),
    # ---- Parquet ----
    Case("not Parquet", "plays.parquet", text(CSV), ("PAR1",), ui=True),
    Case("Parquet with NaN value", "plays.parquet", lambda: _parquet(
        {"u": ["a", "b"], "i": ["x", "y"], "v": [1.0, float("nan")]}),
         ("field 'v'", "row 2", "value nan is missing or NaN")),
    # ---- SQLite ----
    Case("SQLite with another schema", "other.db",
         lambda: sqlite_bytes("CREATE TABLE a (x)", "CREATE TABLE b (y, z)"),
         ("none named 'pairings'", "a, b"), ui=True),
    Case("table name carrying SQL", "pl.db", lambda: sqlite_bytes(*PAIRS),
         ("no table or view named", "DROP TABLE"),
         kw={"table": "pairings; DROP TABLE pairings; --"}, ui=True),
    Case("column name carrying SQL", "pl.db", lambda: sqlite_bytes(*PAIRS),
         ("no user column",), kw={"user_col": 'pid" FROM pairings; --'}),
    Case("recursive view (deadline)", "pl.db", lambda: sqlite_bytes(
        *PAIRS, "CREATE VIEW forever AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 "
        "FROM c) SELECT x AS pid, x AS tid FROM c ORDER BY x DESC"),
         ("deadline",), kw={"table": "forever", "timeout_s": 0.3}, ui=True),
    Case("SQLite NULL id", "pl.db", lambda: sqlite_bytes(
        "CREATE TABLE pairings (pid, tid)", "INSERT INTO pairings VALUES (1, 2), (1, NULL)"),
         ("row 2", "NULL item id")),
    Case("named .db, not SQLite", "pl.db", text(ROWS), ("SQLite",), ui=True),
    Case("SQLite header, broken body", "pl.db", lambda: b"SQLite format 3\x00" + b"\x00" * 200,
         ("SQLite",)),
    # ---- model files (mfcore.modelio.load_model) ----
    Case("model: not ours", "model.npz", lambda: npz_bytes(a=np.arange(3)),
         ("not an mfcore model",), entry="model"),
    Case("model: text file", "model.npz", text("hello, not a model"),
         ("not an mfcore model", "starts with b'hello, n'"), entry="model"),
    Case("model: raw pickle", "model.npz", lambda: __import__("pickle").dumps({"P": 1}),
         ("not an mfcore model", "pickled"), entry="model"),
    Case("model: asks for pickle", "model.npz",
         lambda: npz_bytes(meta_json=np.array([{"format": "mfcore-model"}], dtype=object)),
         ("pickle",), entry="model"),
    Case("model: pickled .npy", "model.npz",
         lambda: _pickled_npy(), ("pickle",), entry="model"),
]
ROUND1 = CASES
CASES = ROUND1 + ROUND2
DATA_CASES = [c for c in CASES if c.entry == "data" and c.disk is None]
UI_CASES = [c for c in DATA_CASES if c.ui]


def _pickled_npy() -> bytes:
    import io
    buf = io.BytesIO()
    np.save(buf, np.array([{"user_factors_": 1}], dtype=object), allow_pickle=True)
    return buf.getvalue()


class PeakRSS:
    """Samples this process's resident memory in a thread: the peak growth during a block."""

    def __init__(self) -> None:
        self.start = self.peak = self._rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    def _run(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, self._rss())

    def __enter__(self) -> "PeakRSS":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._rss())

    @property
    def growth(self) -> int:
        return self.peak - self.start


def test_catalogue_is_big_enough():
    assert len(ROUND1) >= 46 and len(ROUND2) >= 40 and len(UI_CASES) >= 20
    assert len({c.name for c in CASES}) == len(CASES)


# ---- (a) the engine ---------------------------------------------------------------------------
# model files are only read from disk (the run history): no upload form for them; on-disk cases
# (links, FIFOs, folders) only from a path
ENGINE = [pytest.param(c, how, id=f"{c.name}-{how}") for c in CASES
          for how in (("path", "upload") if c.entry == "data" and c.disk is None
                      else ("path",))]


@pytest.mark.parametrize("case, how", ENGINE)
def test_engine_gives_a_clear_error(case, how, tmp_path):
    kw = dict(case.kw)
    if case.disk is not None:
        path, extra, shown = case.disk(tmp_path)
        kw.update(extra)
        source = path
    else:
        path = tmp_path / case.filename
        source, shown = path, str(path)
        if how == "path":
            path.write_bytes(case.build())
        else:
            source, shown = (case.filename, case.build()), case.filename
    with pytest.raises(ModelFileError if case.entry == "model" else DataError) as info:
        _run_guarded(lambda: load_model(path) if case.entry == "model"
                     else load_dataset(source, use_cache=False, **kw))
    msg = str(info.value)
    assert msg.startswith(shown), msg  # the file comes first ...
    for word in case.words:             # ... then the line / field and what is wrong
        assert word in msg, msg
    assert "\n" not in msg and len(msg) < 600, msg  # one line, a long id not echoed whole


def _run_guarded(call, limit_s: float = 120.0):
    """Run ``call`` in a thread: a load that blocks (a FIFO opened) fails the test instead of
    hanging the suite. Re-raises what ``call`` raised."""
    out = {}

    def target():
        try:
            out["value"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test thread
            out["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(limit_s)
    assert not t.is_alive(), "the load blocked (was a FIFO or a device opened?)"
    if "error" in out:
        raise out["error"]
    return out.get("value")


def test_gzip_bomb_is_stopped_while_decompressing():
    """1 GiB of content in ~1.6 MB: refused at the 8 MiB cap, in little time and memory."""
    blob = gzip_bomb()
    assert len(blob) < 2 << 20
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        with pytest.raises(DataError, match="exceeds the limit of 8,388,608 bytes"):
            load_dataset(("bomb.txt.gz", blob), use_cache=False, max_decompressed_bytes=BIG_CAP)
        seconds = time.perf_counter() - t0
    assert seconds < 5, seconds          # expanding the whole GiB and parsing it takes far longer
    assert mem.growth < 150 << 20, mem.growth  # parsing 1 GiB of rows would need several GiB


# ---- (b) through the Data page's upload (AppTest) -------------------------------------------
def model_fingerprint(model) -> str:
    import hashlib
    h = hashlib.sha256()
    for a in (model.user_factors_, model.item_factors_, model.user_bias_, model.item_bias_):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def test_bad_uploads_through_the_data_page(monkeypatch):
    """≥ 10 cases through the real uploader of one session that has a dataset and a model."""
    from ui.testing import assert_clean, open_app, train, wait_for_load

    monkeypatch.setenv("MFX_MAX_DECOMPRESSED_MB", str(BIG_CAP / 2**20))
    monkeypatch.setenv("MFX_QUERY_TIMEOUT_S", "0.3")
    at = open_app()
    train(at, epochs=2, factors=4)
    at.switch_page("pages/data_page.py")
    at.run()
    assert_clean(at)
    ss = at.session_state
    prepared, raw, bundle = ss["prepared"], ss["raw"], ss["bundle"]
    data_fp, model_fp = raw.fingerprint, model_fingerprint(bundle.model)
    shown = {}
    for case in UI_CASES:
        for key, store in (("table", "w_load_table"), ("user_col", "w_load_user_col")):
            at.text_input(key=store).set_value(case.kw.get(key, ""))
        at.file_uploader(key="w_upload").set_value(
            (case.filename, case.build(), "application/octet-stream"))
        at.run()
        at.button(key="btn_upload").click().run()
        wait_for_load(at)
        assert_clean(at)
        errors = [e.value for e in at.error]
        assert len(errors) == 1, (case.name, errors)
        msg = errors[0]
        assert msg.startswith(f"Could not load {case.filename}: {case.filename}"), msg
        for word in case.words:
            assert word in msg, (case.name, msg)
        # nothing changed: the same dataset objects and the same trained model
        assert ss["prepared"] is prepared and ss["raw"] is raw, case.name
        assert ss["raw"].fingerprint == data_fp
        assert ss["bundle"] is bundle and model_fingerprint(ss["bundle"].model) == model_fp
        assert [m.value for m in at.metric if m.label == "Users"] == [f"{raw.n_users:,}"]
        shown[case.name] = msg
    assert len(shown) == len(UI_CASES)

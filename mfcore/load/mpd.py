"""Spotify Million Playlist Dataset slices -> playlist–track pairs.

Accepted sources: one ``mpd.slice.*.json`` file (optionally gzip-compressed), a folder of them
(read in slice order: ``mpd.slice.0-999.json``, ``mpd.slice.1000-1999.json``, ...), or a
``.tar.gz`` / ``.tgz`` / ``.tar`` archive of them (read as a stream in archive order; other
members are skipped). Uploads ``(name, bytes)`` work for single files and archives.

Each playlist is a user (its ``pid``) and each track an item (its ``track_uri``); values are 1 and
the data are implicit. A track repeated within a playlist is a duplicate row, merged per the
``duplicates`` policy (``'sum'``: value 2; ``'max'``: stays 1; counted in
``n_duplicates_merged``). ``track_name`` and ``artist_name`` become ``item_meta`` columns
``title`` and ``artist`` (first seen wins); a playlist's ``name`` becomes ``user_meta['name']``.

Limits: ``max_playlists`` stops after that many playlists; ``max_decompressed_bytes`` caps the
bytes a compressed archive may expand to (checked while decompressing); ``max_slice_bytes``
caps one slice file. Malformed input (truncated or invalid JSON, NaN/Infinity, nesting too deep,
missing fields) is a :class:`DataError` naming the file (``archive.tar.gz:member``) and the line,
or the playlist and track.
"""
from __future__ import annotations

import json
import re
import tarfile
from array import array
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..interactions import Interactions
from . import cache as _cache
from ._io import (CappedReader, GZIP_MAGIC, Source, SourceInfo, looks_like_tar, open_stream,
                  resolve)

#: The full MPD is about 33 GB of JSON, so the default cap sits above it.
DEFAULT_MAX_DECOMPRESSED_BYTES = 64 * 2**30
DEFAULT_MAX_SLICE_BYTES = 1 * 2**30
SLICE_RE = re.compile(r"^mpd\.slice\.(\d+)-(\d+)\.json$")
SLICE_GLOB = "mpd.slice.*.json"
_CONST_RE = re.compile(r"[:,\[]\s*(-?Infinity|NaN)\b")


def load_mpd(source: Source, *, max_playlists: int | None = None, max_rows: int | None = None,
             duplicates: str = "sum",
             max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
             max_slice_bytes: int = DEFAULT_MAX_SLICE_BYTES, cache_dir=None,
             use_cache: bool | str = "auto", progress=None) -> Interactions:
    """Load MPD slices as implicit playlist–track interactions.

    Parameters
    ----------
    source : path or (name, bytes)
        A slice file, a folder of slices, or a (gzip) tar of slices.
    max_playlists : int, optional
        Stop after this many playlists.
    max_rows : int, optional
        Stop before the playlist that would take the rows (before merging) past ``max_rows``
        (whole playlists only; the first playlist is always kept).
    duplicates : {'sum', 'max', 'last', 'first', 'error'}
        Policy for a track repeated within one playlist.
    max_decompressed_bytes : int
        Cap on the decompressed size of a compressed source.
    max_slice_bytes : int
        Cap on one slice file.
    cache_dir, use_cache, progress
        As in :func:`mfcore.load.triplets.load_triplets`.

    Returns
    -------
    Interactions
        implicit, ``item_meta`` with ``title`` and ``artist``; ``extra`` has ``n_slices``,
        ``n_playlists``, ``n_rows`` (before merging) and ``truncated``.
    """
    info = resolve(source)
    if max_playlists is not None and (int(max_playlists) != max_playlists or max_playlists < 1):
        raise DataError(f"max_playlists must be a positive integer, got {max_playlists!r}",
                        source=info.name)
    if max_rows is not None and (int(max_rows) != max_rows or max_rows < 1):
        raise DataError(f"max_rows must be a positive integer, got {max_rows!r}", source=info.name)
    options = {"max_playlists": max_playlists, "max_rows": max_rows, "duplicates": duplicates}

    def build() -> Interactions:
        acc = _Accumulator(max_playlists, max_rows)
        slices = _iter_slices(info, max_decompressed_bytes, max_slice_bytes, progress)
        for slice_name, text in slices:
            acc.add_slice(slice_name, text)
            if acc.full:
                if not acc.truncated:   # the cap fell at the end of a slice: is there more?
                    acc.truncated = next(slices, None) is not None
                slices.close()
                break
        return acc.finish(info.name, duplicates)

    return _cache.cached_load(info, "mpd", options, build, cache_dir=cache_dir,
                              use_cache=use_cache, pattern=SLICE_GLOB, progress=progress)


# ---- reading the slices -------------------------------------------------------------------------
def _slice_key(path: Path):
    m = SLICE_RE.match(path.name)
    return (int(m.group(1)) if m else float("inf"), path.name)


def _is_tar(info: SourceInfo) -> bool:
    name = info.lower_name
    if name.endswith((".tar.gz", ".tgz", ".tar")):
        return True
    if info.head(2) == GZIP_MAGIC and not name.endswith(".json.gz"):
        return looks_like_tar(info)
    return False


def _iter_slices(info: SourceInfo, max_decompressed_bytes: int, max_slice_bytes: int, progress):
    if info.is_dir:
        files = sorted((p for p in info.path.glob(SLICE_GLOB) if p.is_file()), key=_slice_key)
        if not files:
            others = sorted(p.name for p in info.path.iterdir())[:10]
            raise DataError(f"no {SLICE_GLOB} files in the folder (it has: "
                            f"{', '.join(others) or 'nothing'})", source=info.name)
        for k, path in enumerate(files):
            if path.stat().st_size > max_slice_bytes:
                raise DataError(f"slice is larger than max_slice_bytes={max_slice_bytes:,}",
                                source=str(path))
            yield str(path), path.read_bytes()
            if progress is not None:
                progress(0.9 * (k + 1) / len(files), f"read {k + 1} of {len(files)} slices")
        return
    if _is_tar(info):
        yield from _iter_tar(info, max_decompressed_bytes, max_slice_bytes, progress)
        return
    with open_stream(info, max_decompressed_bytes=max_decompressed_bytes) as f:
        data = f.read(max_slice_bytes + 1)
    if len(data) > max_slice_bytes:
        raise DataError(f"slice is larger than max_slice_bytes={max_slice_bytes:,}",
                        source=info.name)
    yield info.name, data


def _iter_tar(info: SourceInfo, max_decompressed_bytes: int, max_slice_bytes: int, progress):
    raw = info.open_raw()
    total = max(info.size, 1)
    if info.head(2) == GZIP_MAGIC:
        import gzip
        stream = CappedReader(gzip.GzipFile(fileobj=raw, mode="rb"), max_decompressed_bytes,
                              info.name)
    elif info.lower_name.endswith((".gz", ".tgz")):
        raw.close()
        raise DataError("the name says gzip but the file is not gzip-compressed", source=info.name)
    else:
        stream = CappedReader(raw, max_decompressed_bytes, info.name, what="archive")
    n_slices = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for member in tar:
                base = member.name.rsplit("/", 1)[-1]
                if not member.isfile() or not SLICE_RE.match(base):
                    continue
                where = f"{info.name}:{member.name}"
                if member.size > max_slice_bytes:
                    raise DataError(f"member is {member.size:,} bytes, more than "
                                    f"max_slice_bytes={max_slice_bytes:,}", source=where)
                if stream.count + member.size > stream.cap:
                    raise DataError(f"the archive would expand past max_decompressed_bytes="
                                    f"{stream.cap:,} with this member", source=where)
                f = tar.extractfile(member)
                data = f.read() if f is not None else b""
                if len(data) != member.size:
                    raise DataError(f"the archive is truncated inside this member ({len(data):,} "
                                    f"of {member.size:,} bytes)", source=where)
                n_slices += 1
                yield where, data
                if progress is not None:
                    progress(min(0.9, 0.9 * raw.tell() / total),
                             f"read {n_slices} slices from the archive")
    except tarfile.TarError as exc:
        raise DataError(f"not a readable tar archive, or truncated ({exc})",
                        source=info.name) from None
    except EOFError as exc:
        raise DataError(f"the archive is truncated ({exc})", source=info.name) from None
    finally:
        raw.close()
    if n_slices == 0:
        raise DataError(f"the archive holds no {SLICE_GLOB} members", source=info.name)


# ---- parsing -----------------------------------------------------------------------------------
class _Accumulator:
    def __init__(self, max_playlists: int | None, max_rows: int | None = None) -> None:
        self.max_playlists = max_playlists
        self.max_rows = max_rows
        self.users = array("i")
        self.items = array("i")
        self.pid_index: dict = {}
        self.pids: list = []
        self.names: list = []
        self.track_index: dict[str, int] = {}
        self.titles: list = []
        self.artists: list = []
        self.n_playlists = 0
        self.n_slices = 0
        self.full = False
        self.truncated = False

    def add_slice(self, where: str, data: bytes) -> None:
        doc = parse_json(data, where)
        self.n_slices += 1
        if not isinstance(doc, dict) or not isinstance(doc.get("playlists"), list):
            raise DataError("expected a JSON object with a 'playlists' list (an MPD slice)",
                            source=where, field="playlists")
        playlists = doc["playlists"]
        for k, pl in enumerate(playlists, 1):
            if self.max_playlists is not None and self.n_playlists >= self.max_playlists:
                self.full = True
                self.truncated = True
                return
            tracks = pl.get("tracks") if isinstance(pl, dict) else None
            if (self.max_rows is not None and self.n_playlists and isinstance(tracks, list)
                    and len(self.users) + len(tracks) > self.max_rows):
                self.full = True
                self.truncated = True
                return
            self._add_playlist(where, k, pl)
        if self.max_playlists is not None and self.n_playlists >= self.max_playlists:
            self.full = True

    def _add_playlist(self, where: str, k: int, pl) -> None:
        if not isinstance(pl, dict):
            raise DataError(f"playlist #{k} is not a JSON object", source=where, field="playlists")
        pid = pl.get("pid")
        if isinstance(pid, bool) or not isinstance(pid, (int, str)) or pid == "":
            raise DataError(f"playlist #{k} has no usable 'pid' (got {pid!r}); expected an "
                            f"integer", source=where, field="pid")
        tracks = pl.get("tracks")
        if not isinstance(tracks, list):
            raise DataError(f"playlist #{k} (pid {pid}) has no 'tracks' list", source=where,
                            field="tracks")
        u = self.pid_index.get(pid)
        if u is None:
            u = self.pid_index[pid] = len(self.pids)
            self.pids.append(pid)
            self.names.append(_text(pl.get("name")))
        track_index = self.track_index
        for j, tr in enumerate(tracks, 1):
            uri = tr.get("track_uri") if isinstance(tr, dict) else None
            if not isinstance(uri, str) or not uri:
                raise DataError(f"playlist #{k} (pid {pid}), track #{j}: missing or empty "
                                f"'track_uri'", source=where, field="track_uri")
            i = track_index.get(uri)
            if i is None:
                i = track_index[uri] = len(self.titles)
                self.titles.append(_text(tr.get("track_name")))
                self.artists.append(_text(tr.get("artist_name")))
            self.users.append(u)
            self.items.append(i)
        self.n_playlists += 1

    def finish(self, name: str, duplicates: str) -> Interactions:
        if not self.users:
            raise DataError("no playlist tracks found", source=name)
        users = np.frombuffer(self.users, dtype=np.int32).copy()
        items = np.frombuffer(self.items, dtype=np.int32).copy()
        n_rows = len(users)
        self.users = self.items = None
        if self.pids and all(isinstance(p, int) for p in self.pids):
            user_ids = np.asarray(self.pids, dtype=np.int64)
        else:
            if len({str(p) for p in self.pids}) != len(self.pids):
                raise DataError("pids mix text and numbers that read the same", source=name,
                                field="pid")
            user_ids = np.empty(len(self.pids), dtype=object)
            user_ids[:] = [str(p) for p in self.pids]
        uris = np.empty(len(self.track_index), dtype=object)
        uris[:] = list(self.track_index)
        order = np.argsort(uris.astype(str), kind="stable")
        rank = np.empty(len(order), dtype=np.int32)
        rank[order] = np.arange(len(order), dtype=np.int32)
        items = rank[items]
        item_ids = uris[order]
        meta = pd.DataFrame({"title": np.asarray(self.titles, dtype=object)[order],
                             "artist": np.asarray(self.artists, dtype=object)[order]},
                            index=pd.Index(item_ids, name="item_id"))
        names = None
        if any(self.names):
            names = pd.DataFrame({"name": np.asarray(self.names, dtype=object)},
                                 index=pd.Index(user_ids, name="user_id"))
        data = Interactions.from_codes(users, items, np.ones(n_rows, dtype=np.float32),
                                       user_ids, item_ids, duplicates=duplicates, source=name,
                                       implicit=True, item_meta=meta, user_meta=names)
        data.extra.update(format="mpd", n_slices=self.n_slices, n_playlists=self.n_playlists,
                          n_rows=n_rows, truncated=self.truncated)
        return data


def _text(x):
    return x if isinstance(x, str) else (None if x is None else str(x))


def _reject_constant(name: str):
    raise _Constant(name)


class _Constant(Exception):
    pass


def parse_json(data: bytes, where: str):
    """``json.loads`` with errors turned into :class:`DataError` (line and column named).

    NaN / Infinity (not JSON) are refused, and so is nesting too deep for the parser.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise DataError(f"invalid UTF-8 byte {data[exc.start:exc.start + 1]!r} at byte "
                        f"{exc.start:,}; expected UTF-8 JSON", source=where, line=line) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        # An unterminated string runs to the end of the text: the file was cut there too.
        trunc = exc.pos >= len(text.rstrip()) - 1 or exc.msg.startswith("Unterminated string")
        what = "the JSON is truncated (it ends before the document is complete)" if trunc \
            else "invalid JSON"
        raise DataError(f"{what}: {exc.msg.removesuffix(' at')} at line {exc.lineno}, "
                        f"column {exc.colno} "
                        f"(character {exc.pos:,})", source=where, line=exc.lineno) from None
    except _Constant as exc:
        m = _CONST_RE.search(text)
        pos = m.start(1) if m else 0
        line = text.count("\n", 0, pos) + 1
        col = pos - (text.rfind("\n", 0, pos) + 1) + 1
        raise DataError(f"{exc.args[0]} is not valid JSON (at line {line}, column {col}); "
                        f"expected a finite number", source=where, line=line) from None
    except RecursionError:
        raise DataError("the JSON is nested too deeply to parse; expected an MPD slice",
                        source=where) from None


__all__ = ["load_mpd", "parse_json", "SLICE_GLOB"]

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
from ..idcodec import MAX_ID_CHARS
from ..interactions import Interactions
from . import cache as _cache
from ._files import checked_path, open_checked
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
    if info.is_dir:
        slice_files(info)  # every member checked before the cache may answer for the folder

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


def slice_files(info: SourceInfo) -> list[Path]:
    """The slice files of a folder in slice order, each checked (see :mod:`._files`): inside
    the folder's confinement root on its real path, and a regular file.

    Raises
    ------
    DataError
        No slice in the folder, or a member that escapes or is not a regular file (a FIFO...).
    """
    files = sorted(info.path.glob(SLICE_GLOB), key=_slice_key)
    if not files:
        others = sorted(p.name for p in info.path.iterdir())[:10]
        raise DataError(f"no {SLICE_GLOB} files in the folder (it has: "
                        f"{', '.join(others) or 'nothing'})", source=info.name)
    for path in files:
        checked_path(path, str(path), info.root)
    return files


def _iter_slices(info: SourceInfo, max_decompressed_bytes: int, max_slice_bytes: int, progress):
    if info.is_dir:
        files = slice_files(info)
        for k, path in enumerate(files):
            with open_checked(path, str(path), info.root) as f:
                data = f.read(max_slice_bytes + 1)
            if len(data) > max_slice_bytes:
                raise DataError(f"slice is larger than max_slice_bytes={max_slice_bytes:,}",
                                source=str(path))
            yield str(path), data
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


class _StrictTarInfo(tarfile.TarInfo):
    """A tar header reader that reports damage as damage.

    ``tarfile`` reading a stream takes a header with a bad checksum, a header cut short, or the
    data simply stopping (no end-of-archive blocks) for the end of the archive, and the members
    before it load as if they were all; here each is an error. Only the zero block that tar
    writers put at the end (``EOFHeaderError``) ends the archive.
    """

    @classmethod
    def fromtarfile(cls, tar):
        try:
            return super().fromtarfile(tar)
        except tarfile.EOFHeaderError:
            raise
        except tarfile.EmptyHeaderError:
            raise tarfile.ReadError(f"the data end at byte {tar.offset:,} without the "
                                    "end-of-archive blocks: the archive is truncated") from None
        except tarfile.HeaderError as exc:
            raise tarfile.ReadError(f"the member header at byte {tar.offset:,} is damaged "
                                    f"({exc}): the archive is truncated or corrupt") from None


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
    last = None
    try:
        with tarfile.open(fileobj=stream, mode="r|", tarinfo=_StrictTarInfo) as tar:
            for member in tar:
                last = member.name
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
        after = f" after member {last!r}" if last else ""
        raise DataError(f"not a readable tar archive: damaged or truncated{after} ({exc})",
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
        self.pid_index: dict = {}           # pid -> user code
        self.pid_where: list = []           # user code -> (slice, playlist number)
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
        pid = _pid(pl.get("pid"), where, k)
        tracks = pl.get("tracks")
        if not isinstance(tracks, list):
            raise DataError(f"playlist #{k} (pid {pid}) has no 'tracks' list", source=where,
                            field="tracks")
        u = self.pid_index.get(str(pid))
        if u is not None:
            w0, k0 = self.pid_where[u]
            raise DataError(f"playlist #{k} repeats pid {pid!r} of playlist #{k0}"
                            + ("" if w0 == where else f" in {w0}")
                            + "; every playlist needs its own pid", source=where, field="pid")
        u = self.pid_index[str(pid)] = len(self.pids)
        self.pids.append(pid)
        self.pid_where.append((where, k))
        self.names.append(_text(pl.get("name")))
        track_index = self.track_index
        for j, tr in enumerate(tracks, 1):
            uri = tr.get("track_uri") if isinstance(tr, dict) else None
            if not isinstance(uri, str) or not uri:
                raise DataError(f"playlist #{k} (pid {pid}), track #{j}: missing or empty "
                                f"'track_uri'", source=where, field="track_uri")
            i = track_index.get(uri)
            if i is None:
                if "\x00" in uri or len(uri) > MAX_ID_CHARS:
                    raise DataError(f"playlist #{k} (pid {pid}), track #{j}: the track_uri holds "
                                    f"a NUL byte or is longer than {MAX_ID_CHARS:,} characters",
                                    source=where, field="track_uri")
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
        else:  # str(pid) is unique: _add_playlist refuses 5 beside "5"
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


def _pid(pid, where: str, k: int):
    """A playlist's pid: an integer within int64, or non-empty text of an id's length."""
    if isinstance(pid, bool) or not isinstance(pid, (int, str)) or pid == "":
        raise DataError(f"playlist #{k} has no usable 'pid' (got {str(pid)[:40]!r}); expected "
                        "an integer", source=where, field="pid")
    if isinstance(pid, int) and not -2**63 <= pid < 2**63:
        raise DataError(f"playlist #{k}: pid {str(pid)[:40]} is beyond the 64-bit integer "
                        "range", source=where, field="pid")
    if isinstance(pid, str) and (len(pid) > MAX_ID_CHARS or "\x00" in pid):
        raise DataError(f"playlist #{k}: the pid is longer than {MAX_ID_CHARS:,} characters or "
                        "holds a NUL byte", source=where, field="pid")
    return pid


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

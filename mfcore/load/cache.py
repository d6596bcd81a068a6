"""On-disk cache of parsed datasets, so reopening a big file takes seconds.

Two kinds of file, both in the cache folder:

- An **entry**, ``data-<content key>.npz`` (written with ``allow_pickle=False``), holds the row
  arrays (with the rows' times when the data have them), the raw ids (strings as one UTF-8 blob
  plus int32 offsets, int64 past 2 GiB; never pickled objects), the item and user metadata,
  the dataset's :attr:`~mfcore.interactions.Interactions.fingerprint` (so a dataset served from the cache is
  never hashed again) and a JSON header. It is named by its **content**: a hash of the
  fingerprint (all the row arrays), of every id and metadata value and of
  :data:`CACHE_VERSION`. The same rows read from ``plays.txt``, ``plays.txt.gz`` or another
  path share one entry.
- A **pointer**, ``<loader>-<file name>-<hash>.json`` (a few hundred bytes), names the entry
  for one source as it is now: its hash covers the source's resolved path, size and
  modification time, the loader and its options, and :data:`CACHE_VERSION` (change any and
  the pointer is simply not found). It also holds what belongs to the source rather than to
  the rows: the source's name, the loader's ``extra`` and the duplicates merged. When a
  source is parsed again because it changed, its older pointers are deleted, with the entries
  only they named: the cache keeps one copy per source, not one per version of the file.

Looking up costs a ``stat`` and a small JSON read before the entry is read; storing hashes the
built dataset once (the fingerprint, which the run history needs anyway, plus the ids and
metadata). Both files are written to a temporary file and renamed into place (atomic); an entry
that already exists is not written again. A pointer or entry that cannot be read back, or fails
its checks, is deleted and the dataset rebuilt. Entries of version 3 (named by the source's
path) are not found; the one of the source being rebuilt is deleted.

The cache folder is ``cache_dir`` when given, else ``$MFCORE_CACHE_DIR``, else
``~/.cache/mfcore``. ``use_cache='auto'`` (the default) caches sources of at least
:data:`AUTO_MIN_BYTES`; ``True`` always, ``False`` never. Uploads (bytes) are never cached.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from .._atomic import atomic_savez, atomic_write_bytes
from ..idcodec import pack_ids, pack_strings, unpack_ids, unpack_strings
from ..interactions import Interactions
from ._io import SourceInfo

CACHE_VERSION = 4
AUTO_MIN_BYTES = 16 << 20
ENV_VAR = "MFCORE_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$MFCORE_CACHE_DIR`` if set, else ``~/.cache/mfcore``."""
    env = os.environ.get(ENV_VAR)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mfcore"


def source_stamp(info: SourceInfo, pattern: str | None = None) -> dict | None:
    """What identifies the source's current content: resolved path, size, mtime (None: uploads).

    For a folder, every file matching ``pattern`` contributes its name, size and mtime.
    """
    if info.path is None:
        return None
    path = info.path.resolve()
    if path.is_dir():
        stats = [(f.name, f.stat()) for f in sorted(path.glob(pattern or "*")) if f.is_file()]
        return {"path": str(path),
                "files": [[name, st.st_size, st.st_mtime_ns] for name, st in stats]}
    st = path.stat()
    return {"path": str(path), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def stamp_size(stamp: dict) -> int:
    """Bytes of the source a :func:`source_stamp` describes (all its files, for a folder)."""
    if "files" in stamp:
        return sum(f[1] for f in stamp["files"])
    return stamp["size"]


def pointer_path(stamp: dict, kind: str, options: dict,
                 cache_dir: str | os.PathLike | None) -> Path:
    """Where the pointer for this source (as it is now), loader and options lives."""
    return _folder(cache_dir) / f"{source_key(stamp, kind, options, CACHE_VERSION)}.json"


def source_key(stamp: dict, kind: str, options: dict, version: int = CACHE_VERSION) -> str:
    """The name (without suffix) of a pointer: loader, file name, hash of stamp and options."""
    key = json.dumps({"v": version, "kind": kind, "source": stamp, "options": options},
                     sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(stamp["path"]).name)
    return f"{kind}-{stem[:60]}-{digest}"


def _folder(cache_dir) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def cached_load(info: SourceInfo, kind: str, options: dict, build: Callable[[], Interactions], *,
                cache_dir=None, use_cache="auto", pattern: str | None = None,
                progress=None) -> Interactions:
    """Return the cached dataset for (source, kind, options), or build it and store it.

    The result's ``extra`` says ``from_cache`` (True/False) and ``cache_path`` (the entry, or
    None when nothing was stored).
    """
    stamp = source_stamp(info, pattern) if use_cache is not False else None
    if stamp is None or (use_cache == "auto" and stamp_size(stamp) < AUTO_MIN_BYTES):
        data = build()
        data.extra.update(from_cache=False, cache_path=None)
        return data
    pointer = pointer_path(stamp, kind, options, cache_dir)
    if pointer.exists():
        data = _follow(pointer, info.name, progress)
        if data is not None:
            return data
    data = build()
    try:
        entry = write_entry(pointer.parent, data)
        sid = source_id(stamp, kind, options)
        _write_pointer(pointer, entry, data, sid)
        _drop_older(pointer, sid)
        stored = str(entry)
    except OSError as exc:
        warnings.warn(f"could not write the dataset cache in {pointer.parent}: {exc}",
                      RuntimeWarning, stacklevel=2)
        stored = None
    # The version-3 entry of this very source (named by its path) will never be read again.
    old = pointer.parent / f"{source_key(stamp, kind, options, 3)}.npz"
    if old.exists():
        _unlink(old)
    data.extra.update(from_cache=False, cache_path=stored)
    return data


def _follow(pointer: Path, name: str, progress) -> Interactions | None:
    """The dataset a pointer names, or None (a damaged pointer or entry is deleted)."""
    try:
        ref = _read_pointer(pointer)
        entry = pointer.parent / ref["entry"]
        extra = dict(ref["extra"])
        n_dups = int(ref["n_duplicates_merged"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        _unlink(pointer)
        return None
    if not entry.exists():
        return None
    if progress is not None:
        progress(0.1, f"reading cached copy {entry.name}")
    data = read_entry(entry, source=name, extra=extra,
                      n_duplicates_merged=n_dups)
    if data is None:
        return None
    data.extra.update(from_cache=True, cache_path=str(entry))
    if progress is not None:
        progress(1.0, "loaded from cache")
    return data


def source_id(stamp: dict, kind: str, options: dict) -> str:
    """What a source's pointers share whatever its content: path, loader and options."""
    key = json.dumps({"kind": kind, "path": stamp["path"], "options": options}, sort_keys=True,
                     default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _drop_older(pointer: Path, sid: str) -> None:
    """Delete the pointers of the same source as it was before (another size or time) and the
    entries they named that no pointer names any more: one copy per source, not one per edit."""
    named, dropped = set(), set()
    for other in pointer.parent.glob("*.json"):
        try:
            ref = _read_pointer(other)
        except (OSError, ValueError, AttributeError):
            continue
        if ref.get("source_id") == sid and other != pointer:
            _unlink(other)
            dropped.add(ref["entry"])
        else:
            named.add(ref["entry"])
    for entry in dropped - named:
        _unlink(pointer.parent / entry)


def _read_pointer(path: Path) -> dict:
    """A pointer's JSON, checked for this version and a well-formed entry name (ValueError)."""
    with open(path, "rb") as f:
        ref = json.loads(f.read(1 << 20))
    if ref.get("v") != CACHE_VERSION or not _ENTRY_NAME.fullmatch(str(ref.get("entry"))):
        raise ValueError("pointer")
    return ref


def _write_pointer(pointer: Path, entry: Path, data: Interactions, sid: str) -> None:
    ref = {"v": CACHE_VERSION, "entry": entry.name, "source": data.source, "source_id": sid,
           "n_duplicates_merged": int(data.n_duplicates_merged),
           "extra": {k: v for k, v in data.extra.items()
                     if k not in ("from_cache", "cache_path") and _jsonable(v)}}
    atomic_write_bytes(pointer, json.dumps(ref).encode())


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


# ---- (de)serialisation --------------------------------------------------------------------------
_ENTRY_NAME = re.compile(r"data-[0-9a-f]{24}\.npz")


def entry_arrays(data: Interactions) -> tuple[dict, str]:
    """The arrays of ``data``'s entry (with its ``header``) and the content key naming it.

    The key hashes the fingerprint (every row array) and everything else the entry holds: all
    the ids and metadata, the header, :data:`CACHE_VERSION`.
    """
    arrays: dict[str, np.ndarray] = {"users": data.users, "items": data.items,
                                     "values": data.values}
    if data.times is not None:
        arrays["times"] = data.times
    rows = set(arrays)
    header = {"v": CACHE_VERSION, "implicit": bool(data.implicit),
              "fingerprint": data.fingerprint}
    header["user_ids"] = pack_ids(np.asarray(data.user_ids), "user_ids", arrays)
    header["item_ids"] = pack_ids(np.asarray(data.item_ids), "item_ids", arrays)
    for prefix, meta in (("meta", data.item_meta), ("umeta", data.user_meta)):
        if meta is not None:
            _pack_meta(meta, prefix, header, arrays)
    text = json.dumps(header, sort_keys=True)
    h = hashlib.blake2b(text.encode(), digest_size=12)
    for name in sorted(set(arrays) - rows):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"\x1f{name}:{a.dtype.str}:{a.shape}".encode())
        h.update(a.view(np.uint8) if a.dtype.kind != "O" else str(a.tolist()).encode())
    arrays["header"] = np.array(text)
    return arrays, h.hexdigest()


def write_entry(folder: Path, data: Interactions) -> Path:
    """Store ``data`` as the entry named by its content in ``folder``; returns its path.

    Written atomically (temporary file in the same folder, then rename), and not at all when
    that entry is already there.
    """
    arrays, key = entry_arrays(data)
    path = Path(folder) / f"data-{key}.npz"
    if not path.exists():
        atomic_savez(path, arrays)
    return path


def _pack_meta(meta: pd.DataFrame, prefix: str, header: dict, arrays: dict) -> None:
    """Store a metadata frame (index and columns, strings never pickled) under ``prefix``."""
    header[f"{prefix}_index"] = pack_ids(np.asarray(meta.index), f"{prefix}_index", arrays)
    cols = []
    for k, col in enumerate(meta.columns):
        s = meta[col]
        if s.dtype.kind in "iufb":
            arrays[f"{prefix}{k}"] = s.to_numpy()
            cols.append([str(col), "num"])
        else:
            pack_strings(s.astype(object).where(s.notna(), None).to_numpy(), f"{prefix}{k}",
                         arrays)
            cols.append([str(col), "str"])
    header[f"{prefix}_columns"] = cols


def _unpack_meta(z, header: dict, prefix: str, index_name: str) -> pd.DataFrame | None:
    """The frame :func:`_pack_meta` stored under ``prefix`` (None when there is none)."""
    if f"{prefix}_columns" not in header:
        return None
    idx = unpack_ids(z, header[f"{prefix}_index"], f"{prefix}_index")
    cols = {name: z[f"{prefix}{k}"] if how == "num" else unpack_strings(z, f"{prefix}{k}",
                                                                         max_chars=None)
            for k, (name, how) in enumerate(header[f"{prefix}_columns"])}
    return pd.DataFrame(cols, index=pd.Index(idx, name=index_name))


def read_entry(path: Path, *, source: str = "", extra: dict | None = None,
               n_duplicates_merged: int = 0) -> Interactions | None:
    """The dataset stored at ``path``, or None (and the entry deleted) when it is damaged.

    ``source``, ``extra`` and ``n_duplicates_merged`` belong to the source (its pointer), not
    to the entry, and are set on the result as given.
    """
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"][()]))
            if header.get("v") != CACHE_VERSION or not isinstance(header.get("fingerprint"), str):
                raise ValueError("version")
            users, items, values = z["users"], z["items"], z["values"]
            times = z["times"] if "times" in z.files else None
            if times is not None and (times.dtype != np.float64 or len(times) != len(users)):
                raise ValueError("times")
            if (users.dtype != np.int32 or items.dtype != np.int32 or values.dtype != np.float32
                    or not (len(users) == len(items) == len(values))):
                raise ValueError("row arrays")
            user_ids = unpack_ids(z, header["user_ids"], "user_ids")
            item_ids = unpack_ids(z, header["item_ids"], "item_ids")
            if len(users) and (users.min() < 0 or users.max() >= len(user_ids) or items.min() < 0
                               or items.max() >= len(item_ids)
                               or not np.isfinite(values).all()):
                raise ValueError("codes out of range")
            item_meta = _unpack_meta(z, header, "meta", "item_id")
            user_meta = _unpack_meta(z, header, "umeta", "user_id")
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
            json.JSONDecodeError, pa.ArrowException):
        _unlink(Path(path))
        return None
    data = Interactions(np.ascontiguousarray(users), np.ascontiguousarray(items),
                        np.ascontiguousarray(values), user_ids, item_ids, item_meta=item_meta,
                        implicit=header["implicit"], source=source,
                        n_duplicates_merged=n_duplicates_merged, user_meta=user_meta,
                        times=None if times is None else np.ascontiguousarray(times),
                        extra=dict(extra or {}))
    # The fingerprint was computed when the entry was stored: a 48M-row dataset is not hashed
    # again on every load (it is the cached_property's value, set as the property would).
    data.__dict__["fingerprint"] = header["fingerprint"]
    return data


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False

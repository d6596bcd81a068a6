"""On-disk cache of parsed datasets, so reopening a big file takes seconds.

An entry is one ``.npz`` (written with ``allow_pickle=False``) holding the row arrays (with the
rows' times when the data have them), the raw ids (strings as one UTF-8 blob plus int64
offsets, never pickled objects), the item and user metadata and a JSON header. Its name is a
hash of the source's resolved path, size and modification time, the loader and its options,
and :data:`CACHE_VERSION`: change any of them and the entry is simply not found. Entries are
written to a temporary file and renamed into place (atomic); an entry that cannot be read back
or fails its checks is deleted and rebuilt.

The cache folder is ``cache_dir`` when given, else ``$MFCORE_CACHE_DIR``, else
``~/.cache/mfcore``. ``use_cache='auto'`` (the default) caches sources of at least
:data:`AUTO_MIN_BYTES`; ``True`` always, ``False`` never. Uploads (bytes) are never cached.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from dataclasses import replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from .._atomic import atomic_savez
from ..idcodec import pack_ids, pack_strings, unpack_ids, unpack_strings
from ..interactions import Interactions
from ._io import SourceInfo

CACHE_VERSION = 3
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


def entry_path(stamp: dict, kind: str, options: dict, cache_dir: str | os.PathLike | None) -> Path:
    """Where the cache entry for this source, loader and options lives."""
    key = json.dumps({"v": CACHE_VERSION, "kind": kind, "source": stamp, "options": options},
                     sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:24]
    stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(stamp["path"]).name)
    folder = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    return folder / f"{kind}-{stem[:60]}-{digest}.npz"


def cached_load(info: SourceInfo, kind: str, options: dict, build: Callable[[], Interactions], *,
                cache_dir=None, use_cache="auto", pattern: str | None = None,
                progress=None) -> Interactions:
    """Return the cached dataset for (source, kind, options), or build it and store it.

    The result's ``extra`` says ``from_cache`` (True/False) and ``cache_path`` (or None).
    """
    stamp = source_stamp(info, pattern) if use_cache is not False else None
    if stamp is None or (use_cache == "auto" and stamp_size(stamp) < AUTO_MIN_BYTES):
        data = build()
        data.extra.update(from_cache=False, cache_path=None)
        return data
    path = entry_path(stamp, kind, options, cache_dir)
    if path.exists():
        if progress is not None:
            progress(0.1, f"reading cached copy {path.name}")
        data = read_entry(path, expect_source=info.name)
        if data is not None:
            data.extra.update(from_cache=True, cache_path=str(path))
            if progress is not None:
                progress(1.0, "loaded from cache")
            return data
    data = build()
    try:
        write_entry(path, data)
        stored = str(path)
    except OSError as exc:
        warnings.warn(f"could not write the dataset cache {path}: {exc}", RuntimeWarning,
                      stacklevel=2)
        stored = None
    data.extra.update(from_cache=False, cache_path=stored)
    return data


# ---- (de)serialisation --------------------------------------------------------------------------
def write_entry(path: Path, data: Interactions) -> None:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    arrays: dict[str, np.ndarray] = {"users": data.users, "items": data.items,
                                     "values": data.values}
    if data.times is not None:
        arrays["times"] = data.times
    header = {"v": CACHE_VERSION, "source": data.source, "implicit": bool(data.implicit),
              "n_duplicates_merged": int(data.n_duplicates_merged),
              "extra": {k: v for k, v in data.extra.items()
                        if k not in ("from_cache", "cache_path") and _jsonable(v)}}
    header["user_ids"] = pack_ids(np.asarray(data.user_ids), "user_ids", arrays)
    header["item_ids"] = pack_ids(np.asarray(data.item_ids), "item_ids", arrays)
    for prefix, meta in (("meta", data.item_meta), ("umeta", data.user_meta)):
        if meta is not None:
            _pack_meta(meta, prefix, header, arrays)
    arrays["header"] = np.array(json.dumps(header))
    atomic_savez(path, arrays)


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


def read_entry(path: Path, expect_source: str | None = None) -> Interactions | None:
    """The dataset stored at ``path``, or None (and the entry deleted) when it is damaged."""
    try:
        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"][()]))
            if header.get("v") != CACHE_VERSION:
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
        try:
            path.unlink()
        except OSError:
            pass
        return None
    data = Interactions(np.ascontiguousarray(users), np.ascontiguousarray(items),
                        np.ascontiguousarray(values), user_ids, item_ids, item_meta=item_meta,
                        implicit=header["implicit"], source=header["source"],
                        n_duplicates_merged=header["n_duplicates_merged"], user_meta=user_meta,
                        times=None if times is None else np.ascontiguousarray(times))
    data.extra.update(header.get("extra", {}))
    if expect_source is not None and expect_source != data.source:
        data = replace(data, source=expect_source, extra=dict(data.extra))
    return data


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False

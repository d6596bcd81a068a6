"""Item metadata (titles, artists, ...) read from a CSV and joined to a dataset for display.

:func:`load_metadata` reads a CSV keyed by item id into a DataFrame indexed by the raw id with
(when present) columns ``title``, ``artist``, ``album``, ``year``; :func:`attach_metadata` keeps the
rows of the dataset's items and sets them as its ``item_meta``.

Column detection (case-insensitive; or name them): id — ``song_id``, ``item_id``, ``track_uri``,
``track_id``, ``item``, ``id``, else the first column; title — ``title``, ``track_name``,
``name``, ``song``; artist — ``artist``, ``artist_name``; album — ``album``, ``album_name``,
``release``; year — ``year``.

The MSD ``song_data.csv`` stores every string as a Python bytes literal
(``b'Rapha\\xc3\\xabl'``, some CSV-quoted): such values are unwrapped and their ``\\xNN``
escapes decoded as UTF-8 (``Raphaël``). In that file a year of 0 means unknown and becomes missing.
"""
from __future__ import annotations

import codecs
import io
import re
from dataclasses import replace

import numpy as np
import pandas as pd

from ..errors import DataError
from ..interactions import Interactions
from ._io import (DEFAULT_MAX_DECOMPRESSED_BYTES, Source, check_text_head, content_head,
                  open_stream, resolve)

ID_NAMES = ("song_id", "item_id", "track_uri", "track_id", "item", "id", "song", "track")
ROLE_NAMES = {
    "title": ("title", "track_name", "name", "song_title"),
    "artist": ("artist", "artist_name"),
    "album": ("album", "album_name", "release"),
    "year": ("year",),
}
_BYTES_LITERAL = re.compile(r"""^b(['"])(.*)\1$""", re.S)
MAX_METADATA_BYTES = 2 * 2**30


def decode_bytes_literal(value):
    """``"b'Rapha\\xc3\\xabl'"`` -> ``"Raphaël"``; any other value is returned unchanged."""
    if not isinstance(value, str) or len(value) < 3 or value[0] != "b":
        return value
    m = _BYTES_LITERAL.match(value)
    if not m:
        return value
    inner = m.group(2)
    if "\\" not in inner:
        return inner
    try:
        raw = codecs.escape_decode(inner.encode("utf-8"))[0]
    except ValueError:
        return inner
    return raw.decode("utf-8", errors="replace")


def _decode_series(s: pd.Series) -> pd.Series:
    s = s.astype(object)
    mask = s.str.startswith("b'", na=False) | s.str.startswith('b"', na=False)
    if mask.any():
        s = s.copy()
        s[mask] = [decode_bytes_literal(v) for v in s[mask]]
    return s


def _find(columns: list[str], wanted, candidates, role: str, name: str):
    if wanted is not None:
        if wanted in columns:
            return wanted
        raise DataError(f"no {role} column named {wanted!r}; columns present: "
                        f"{', '.join(map(repr, columns))}", source=name, field=str(wanted))
    lowered = {c.lower().strip(): c for c in columns}
    for cand in candidates:
        if cand in lowered:
            return lowered[cand]
    return None


def load_metadata(source: Source, *, id_col: str | None = None, title_col: str | None = None,
                  artist_col: str | None = None, delimiter: str | None = None,
                  max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
                  confine_to=None) -> pd.DataFrame:
    """Read an item metadata CSV into a DataFrame indexed by raw item id.

    Parameters
    ----------
    source : path or (name, bytes)
        CSV (or TSV; the delimiter is sniffed), optionally gzip-compressed, with a header row.
    id_col, title_col, artist_col : str, optional
        Column names; detected when omitted (see the module docstring).
    confine_to : path, optional
        A folder the file must lie in, on its real path (see :func:`mfcore.load.load_dataset`).

    Returns
    -------
    DataFrame
        Index ``item_id`` (unique: the first row of a repeated id wins), columns among
        ``title``, ``artist``, ``album``, ``year``.

    Raises
    ------
    DataError
        Unreadable file, a named column that is missing (listing those present), or no id column.
    """
    info = resolve(source, confine_to)
    if info.is_dir:
        raise DataError("is a folder; expected a metadata CSV file", source=info.name)
    head = content_head(info, max_decompressed_bytes=max_decompressed_bytes)
    check_text_head(head, info.name)
    if not head.strip():
        raise DataError("the metadata file is empty", source=info.name)
    first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    if delimiter is None:
        delimiter = max((",", "\t", ";", "|"), key=first.count)
    with open_stream(info, max_decompressed_bytes=max_decompressed_bytes) as f:
        raw = f.read(MAX_METADATA_BYTES + 1)
    if len(raw) > MAX_METADATA_BYTES:
        raise DataError(f"the metadata file is larger than {MAX_METADATA_BYTES:,} bytes",
                        source=info.name)
    try:
        df = pd.read_csv(io.BytesIO(raw), sep=delimiter, dtype=str, keep_default_na=False,
                         na_values=[""], encoding="utf-8", encoding_errors="strict")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise DataError(f"invalid UTF-8 byte {raw[exc.start:exc.start + 1]!r}; expected UTF-8 "
                        f"text", source=info.name, line=line) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        msg = str(exc).strip()
        m = re.search(r"line (\d+)", msg)
        raise DataError(f"not a readable metadata CSV ({msg})", source=info.name,
                        line=int(m.group(1)) if m else None) from None
    del raw
    columns = [str(c) for c in df.columns]
    df.columns = columns
    idc = _find(columns, id_col, ID_NAMES, "id", info.name)
    if idc is None:
        named = [c for c in columns if c and not c.startswith("Unnamed")]
        if not named:
            raise DataError(f"no id column found; columns present: {', '.join(columns)}",
                            source=info.name)
        idc = named[0]
    picked = {}
    for role, cands in ROLE_NAMES.items():
        wanted = title_col if role == "title" else artist_col if role == "artist" else None
        col = _find(columns, wanted, cands, role, info.name)
        if col is not None and col != idc:
            picked[role] = col
    ids = _decode_series(df[idc])
    out = pd.DataFrame({role: _decode_series(df[col]) for role, col in picked.items()})
    if "year" in out:
        year = pd.to_numeric(out["year"], errors="coerce")
        out["year"] = year.where(year > 0).astype("Int64")
    keep = ids.notna().to_numpy() & (ids.astype(str).str.len() > 0).to_numpy()
    out = out[keep]
    out.index = pd.Index(ids[keep].to_numpy(dtype=object), name="item_id")
    out = out[~out.index.duplicated(keep="first")]
    return out


def attach_metadata(data: Interactions, meta) -> Interactions:
    """A copy of ``data`` whose ``item_meta`` holds the rows of ``meta`` for its items.

    ``meta`` is a DataFrame from :func:`load_metadata` or a source for it. Items without metadata
    are simply absent (labels fall back to the raw id); ``extra['metadata_matched']`` says how many
    items matched.
    """
    if not isinstance(meta, pd.DataFrame):
        meta = load_metadata(meta)
    index = meta.index
    numeric_index = pd.api.types.is_numeric_dtype(index.dtype)
    if data.item_ids.dtype.kind in "iu" and not numeric_index:
        conv = pd.to_numeric(pd.Series(index), errors="coerce")
        if conv.notna().all() and (conv % 1 == 0).all():
            meta = meta.set_axis(pd.Index(conv.astype(np.int64).to_numpy(), name="item_id"))
    elif data.item_ids.dtype.kind not in "iu" and numeric_index:
        meta = meta.set_axis(pd.Index(index.astype(str), dtype=object, name="item_id"))
    present = meta.index.isin(pd.Index(data.item_ids))
    sub = meta[present]
    if data.item_meta is not None and len(data.item_meta):
        sub = sub.combine_first(data.item_meta)
    extra = dict(data.extra)
    extra["metadata_matched"] = int(present.sum())
    return replace(data, item_meta=sub, extra=extra)


__all__ = ["load_metadata", "attach_metadata", "decode_bytes_literal"]

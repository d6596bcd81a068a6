"""Parquet files as user–item(-value) columns (the Parquet half of :mod:`mfcore.load.tabular`).

Read with ``pyarrow.parquet`` batch by batch, only the needed columns. Ids may be strings or
integers, and obey the rules of the text loaders: no missing, NaN or empty id, no NUL byte, no id
longer than :data:`~mfcore.idcodec.MAX_ID_CHARS` characters. Values must be finite, fit float32
and (unless allowed) be >= 0. Errors name the row (1-based) and the column. A file whose batches
end before the row count its footer declares is refused as damaged, never loaded in part.
"""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import DataError
from ..idcodec import MAX_ID_CHARS
from ._delim import IdUnifier, finalize_ids, remap_inplace
from ._files import checked_path
from ._io import PARQUET_MAGIC, SourceInfo
from ._rows import F32_MAX
from ._segments import arrow_copy


def read_parquet(info: SourceInfo, columns, max_rows, allow_negative, progress):
    """``(users, items, values or None, user_ids, item_ids, extra)`` of a Parquet source.

    ``columns(names) -> (u, i, v)`` picks the column positions from the file's column names.
    """
    import pyarrow.parquet as pq

    if info.head(4) != PARQUET_MAGIC:
        raise DataError(f"not a Parquet file (it starts with {info.head(4)!r}; Parquet files "
                        f"start with b'PAR1')", source=info.name)
    # An upload is copied into pyarrow's memory: its reader threads then never hold a Python
    # object (see mfcore.load._segments.arrow_copy).
    source = (pa.BufferReader(arrow_copy(info.data)) if info.data is not None
              else str(checked_path(info.path, info.name, info.root)))
    try:
        pf = pq.ParquetFile(source)
        names = list(pf.schema_arrow.names)
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"not a readable Parquet file ({exc})", source=info.name) from None
    try:
        u, i, v = columns(names)
        cols = [names[u], names[i]] + ([names[v]] if v is not None else [])
        return _read(pf, info.name, cols, max_rows, allow_negative, progress)
    finally:
        pf.close()


def _read(pf, name: str, cols: list[str], max_rows, allow_negative, progress):
    total = pf.metadata.num_rows
    n = total if max_rows is None else min(total, max_rows)
    users = np.empty(n, dtype=np.int32)
    items = np.empty(n, dtype=np.int32)
    values = np.empty(n, dtype=np.float32) if len(cols) == 3 else None
    unifiers = IdUnifier(), IdUnifier()
    pos = 0
    batches = pf.iter_batches(batch_size=1 << 20, columns=cols)
    try:
        for batch in batches:
            k = min(batch.num_rows, n - pos)
            if k <= 0:
                break
            batch = batch.slice(0, k)
            for c, (out, role) in enumerate(((users, "user"), (items, "item"))):
                col = _id_column(batch.column(c), pos, name, cols[c], role)
                out[pos:pos + k] = col.indices.to_numpy(zero_copy_only=False)
                unifiers[c].add(col.dictionary, pos, pos + k, out)
            if values is not None:
                values[pos:pos + k] = _values(batch.column(2), pos, name, cols[2],
                                              allow_negative)
            pos += k
            if progress is not None:
                progress(0.95 * pos / max(n, 1), f"read {pos:,} rows")
    except DataError:
        raise
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"could not read the Parquet data after row {pos:,} ({exc})",
                        source=name) from None
    finally:
        batches.close()
    if pos == 0:
        raise DataError("no data rows", source=name)
    if pos < n:
        raise DataError(f"the file declares {total:,} rows but its data end after {pos:,}: "
                        "the file is damaged or truncated", source=name)
    for unifier, out in zip(unifiers, (users, items)):
        unifier.flush(out)
    user_ids, _ = finalize_ids(unifiers[0].dictionary, sort=False)
    item_ids, rank = finalize_ids(unifiers[1].dictionary, sort=True)
    if rank is not None:
        remap_inplace(items, rank)
    extra = {"columns": cols, "truncated": max_rows is not None and total > max_rows}
    return users, items, values, user_ids, item_ids, extra


def _id_column(col, pos: int, name: str, field: str, role: str) -> pa.DictionaryArray:
    """One batch's id column as a dictionary of strings, after the id rules (see the module)."""
    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks()
    where = None
    if col.null_count:
        where, why = _first(~col.is_valid().to_numpy(zero_copy_only=False)), "missing"
    elif pa.types.is_floating(col.type) and pc.any(pc.is_nan(col)).as_py():
        where, why = _first(pc.is_nan(col).to_numpy(zero_copy_only=False)), "NaN"
    if where is not None:
        raise DataError(f"row {pos + where + 1}: {why} {role} id; expected a value",
                        source=name, field=field)
    if not pa.types.is_dictionary(col.type):
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
                or pa.types.is_integer(col.type)):
            col = col.cast(pa.string())
        col = pc.dictionary_encode(col)
    dic = col.dictionary
    if not pa.types.is_string(dic.type):
        dic = dic.cast(pa.string())
        col = pa.DictionaryArray.from_arrays(col.indices, dic)
    bad = (pc.equal(dic, ""), pc.match_substring(dic, "\x00"),
           pc.greater(pc.utf8_length(dic), MAX_ID_CHARS))
    whys = ("an empty", "a NUL byte in the", f"longer than {MAX_ID_CHARS:,} characters: the")
    for mask, why in zip(bad, whys):
        codes = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
        if len(codes):
            row = _first(np.isin(col.indices.to_numpy(zero_copy_only=False), codes))
            raise DataError(f"row {pos + row + 1}: {why} {role} id; expected a non-empty id of "
                            "text without NUL bytes", source=name, field=field)
    return col


def _values(col, pos: int, name: str, field: str, allow_negative: bool) -> np.ndarray:
    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)
            or pa.types.is_boolean(col.type) or pa.types.is_decimal(col.type)):
        raise DataError(f"the value column has type {col.type}; expected numbers",
                        source=name, field=field)
    arr = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    bad = ~np.isfinite(arr) | (np.abs(arr) > F32_MAX)
    if not allow_negative:
        bad |= arr < 0
    if bad.any():
        r = _first(bad)
        x = arr[r]
        why = ("missing or NaN" if np.isnan(x) else "infinite" if np.isinf(x)
               else "beyond float32's range" if abs(x) > F32_MAX else "negative")
        raise DataError(f"row {pos + r + 1}: value {float(x)!r} is {why}; expected a finite "
                        f"number{'' if allow_negative else ' >= 0'} within float32",
                        source=name, field=field)
    return arr


def _first(mask) -> int:
    return int(np.flatnonzero(mask)[0])


__all__ = ["read_parquet"]

"""The delimited-text engine shared by the triplets and CSV/TSV loaders.

The (decompressed) text is cut into segments of whole lines (8 MiB, one reused buffer); each
segment is parsed by ``pyarrow.csv.read_csv`` on all cores, its two id columns are
dictionary-encoded (``pc.dictionary_encode``: one dictionary per segment) and the indices are
copied straight into preallocated ``int32`` arrays, the values into a ``float32`` array. The
segment dictionaries are queued; every so often they are unified with the global dictionary in a
single ``pc.dictionary_encode`` and the queued index ranges are remapped in place. So memory stays
close to the final arrays (12 bytes a row) plus the distinct ids and one segment, no Python
object is created per row, and ``max_rows`` stops after the segment that reaches it.

(pyarrow's own streaming reader was measured first: it reads about 32 blocks ahead, which costs
more memory than the whole of this scheme.)

When pyarrow rejects a block, or a value check fails, the file is re-scanned line by line in
Python (error path only) to name the exact line and field.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ..errors import DataError
from ._io import DEFAULT_MAX_DECOMPRESSED_BYTES, SourceInfo, check_text_head, content_head
from ._rows import MAX_ID_CHARS, MAX_LINE_BYTES, DelimSpec, prefix_bytes, scan_for_error
from ._segments import LineTooLong, Suspicious, estimate_rows, segments

SEGMENT_BYTES = MAX_LINE_BYTES + 1


@dataclass
class Parsed:
    """What the engine hands back: dense codes, values and the id arrays behind them."""

    users: np.ndarray
    items: np.ndarray
    values: np.ndarray | None
    user_ids: np.ndarray
    item_ids: np.ndarray
    n_rows: int
    truncated: bool
    times: np.ndarray | None = None


class IdUnifier:
    """Incremental dictionary unification over index ranges of one output array."""

    def __init__(self, min_flush: int = 1 << 20) -> None:
        self.dictionary: pa.Array | None = None
        self.pending: list[tuple[pa.Array, int, int]] = []
        self.pending_len = 0
        self.min_flush = min_flush

    def add(self, dictionary: pa.Array, start: int, stop: int, out: np.ndarray) -> None:
        self.pending.append((dictionary, start, stop))
        self.pending_len += len(dictionary)
        known = len(self.dictionary) if self.dictionary is not None else 0
        # Each flush re-hashes the whole known dictionary, so flush only when the pending
        # dictionaries outgrow it several times over (a few MB of strings at most).
        if self.pending_len > max(self.min_flush, 4 * known):
            self.flush(out)

    def flush(self, out: np.ndarray) -> None:
        if not self.pending:
            return
        parts = ([self.dictionary] if self.dictionary is not None else [])
        parts += [d for d, _, _ in self.pending]
        pool = _pool()
        parts = [p.cast(pa.string(), memory_pool=pool) if p.type != pa.string() else p
                 for p in parts]
        enc = pc.dictionary_encode(pa.concat_arrays(parts, memory_pool=pool), memory_pool=pool)
        mapping = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32, copy=False)
        off = len(self.dictionary) if self.dictionary is not None else 0
        for d, start, stop in self.pending:
            seg = out[start:stop]
            m = mapping[off:off + len(d)]
            out[start:stop] = m[seg]
            off += len(d)
        self.dictionary = enc.dictionary
        self.pending = []
        self.pending_len = 0


def _pool() -> pa.MemoryPool:
    """jemalloc when pyarrow has it: measured to hand memory back between segments far better
    than the default mimalloc pool does here (lower peak RSS for the same work)."""
    global _POOL
    if _POOL is None:
        try:
            _POOL = pa.jemalloc_memory_pool()
            # Freed pages go back at once: the parsed ids are freed after the parse returns,
            # and jemalloc's default delay kept them (48M rows: 0.12 GiB) for the whole run.
            pa.jemalloc_set_decay_ms(0)
        except (NotImplementedError, pa.ArrowException, AttributeError):
            _POOL = pa.default_memory_pool()
    return _POOL


_POOL: pa.MemoryPool | None = None


def _arrow_options(spec: DelimSpec) -> tuple[list[str], pcsv.ParseOptions, pcsv.ConvertOptions]:
    """Column names and pyarrow options that read the wanted columns of ``spec``."""
    want = [spec.user, spec.item] + [c for c in (spec.value, spec.time) if c is not None]
    names = [f"f{k}" for k in range(spec.n_cols)]
    parse_opts = pcsv.ParseOptions(delimiter=spec.delimiter,
                                   quote_char='"' if spec.quoting else False,
                                   double_quote=True, newlines_in_values=False,
                                   ignore_empty_lines=True)
    # Ids are read straight into dictionary arrays (one dictionary per parsed block), which the
    # unifiers merge: no per-row string array is ever built.
    id_type = pa.dictionary(pa.int32(), pa.string())
    types = {names[spec.user]: id_type, names[spec.item]: id_type}
    if spec.value is not None:
        types[names[spec.value]] = pa.float32()
    if spec.time is not None:
        types[names[spec.time]] = pa.float64()
    conv_opts = pcsv.ConvertOptions(include_columns=[names[k] for k in want], column_types=types,
                                    strings_can_be_null=False, quoted_strings_can_be_null=False)
    return names, parse_opts, conv_opts


class _Columns:
    """The growing output: user and item codes (unified as they come) and values."""

    def __init__(self, cap: int, spec: DelimSpec) -> None:
        self.spec = spec
        self.users = np.empty(cap, dtype=np.int32)
        self.items = np.empty(cap, dtype=np.int32)
        self.values = np.empty(cap, dtype=np.float32) if spec.value is not None else None
        self.times = np.empty(cap, dtype=np.float64) if spec.time is not None else None
        self.unifiers = (IdUnifier(), IdUnifier())
        self.pos = 0

    def append(self, table: pa.Table) -> None:
        pos, n = self.pos, table.num_rows
        if pos + n > len(self.users):
            new_cap = max(pos + n, int(len(self.users) * 1.25))
            self.users, self.items = _grow(self.users, new_cap), _grow(self.items, new_cap)
            if self.values is not None:
                self.values = _grow(self.values, new_cap)
            if self.times is not None:
                self.times = _grow(self.times, new_cap)
        if self.values is not None:
            v = _concat_numpy(table.column(2), np.float32)
            if not np.isfinite(v).all() or (not self.spec.allow_negative and n and v.min() < 0):
                raise _BadValues()
            self.values[pos:pos + n] = v
        if self.times is not None:  # the last column read (see _arrow_options)
            t = _concat_numpy(table.column(table.num_columns - 1), np.float64)
            if not np.isfinite(t).all():
                raise _BadValues()
            self.times[pos:pos + n] = t
        for k, (out, unifier) in enumerate(zip((self.users, self.items), self.unifiers)):
            at = pos
            for chunk in table.column(k).chunks:
                out[at:at + len(chunk)] = chunk.indices.to_numpy(zero_copy_only=False)
                unifier.add(chunk.dictionary, at, at + len(chunk), out)
                at += len(chunk)
        self.pos += n

    def finish(self, info: SourceInfo, truncated: bool, rescan) -> Parsed:
        """Unify the last dictionaries, check the ids, and hand back exact-size arrays.

        ``rescan()`` re-reads the file line by line and returns its first error (or None); it
        runs only when the dictionaries show an id the line rules refuse (empty, holding a NUL,
        too long) or a row that may repeat the header.
        """
        uu, iu = self.unifiers
        uu.flush(self.users)
        iu.flush(self.items)
        pool = _pool()
        for dic in (uu.dictionary, iu.dictionary):
            if (pc.any(pc.equal(dic, "", memory_pool=pool)).as_py()
                    or pc.any(pc.match_substring(dic, "\x00", memory_pool=pool)).as_py()
                    or pc.max(pc.utf8_length(dic, memory_pool=pool)).as_py() > MAX_ID_CHARS):
                raise (rescan() or DataError(f"an empty id, a NUL byte in an id, or an id "
                                             f"longer than {MAX_ID_CHARS:,} characters",
                                             source=info.name))
        header = self.spec.header
        if header and all(pc.index(dic, header[k], memory_pool=pool).as_py() >= 0
                          for dic, k in ((uu.dictionary, self.spec.user),
                                         (iu.dictionary, self.spec.item))):
            err = rescan()   # the header's user and item both occur as ids: a repeated header?
            if err is not None:
                raise err
        n = self.pos
        users, items = _shrink(self.users, n), _shrink(self.items, n)
        values = _shrink(self.values, n) if self.values is not None else None
        times = _shrink(self.times, n) if self.times is not None else None
        user_ids, _ = finalize_ids(uu.dictionary, sort=False)
        item_ids, rank = finalize_ids(iu.dictionary, sort=True)
        if rank is not None:
            remap_inplace(items, rank)
        return Parsed(users, items, values, user_ids, item_ids, n, truncated, times)


def read_delimited(info: SourceInfo, spec: DelimSpec, *, max_rows: int | None = None,
                   max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
                   progress=None, head: bytes | None = None) -> Parsed:
    """Parse a delimited file into dense codes (see the module docstring)."""
    if head is None:
        head = content_head(info, max_decompressed_bytes=max_decompressed_bytes)
    check_text_head(head, info.name)
    expect = estimate_rows(info, head)
    total_bytes = max(int(expect * (len(head) / max(head.count(b"\n"), 1))), 1)
    names, parse_opts, conv_opts = _arrow_options(spec)
    threads = max(os.cpu_count() or 1, 1)
    pool = _pool()
    cols = _Columns(max(min(expect, max_rows) if max_rows is not None else expect, 16), spec)
    truncated = False

    lines = None  # the segment being parsed: its first and last line

    def locate(exc):
        return _locate(info, spec, max_rows, max_decompressed_bytes, exc,
                       exc.args[1] if isinstance(exc, Suspicious) else lines)

    def rescan():
        return scan_for_error(info, spec, max_rows=max_rows,
                              max_decompressed_bytes=max_decompressed_bytes)

    try:
        for seg, consumed, lines in segments(info, max_decompressed_bytes, SEGMENT_BYTES,
                                             spec.skip_rows, spec):
            read_opts = pcsv.ReadOptions(column_names=names, use_threads=True,
                                         block_size=max(seg.size // threads + 1, 1 << 20))
            table = pcsv.read_csv(pa.BufferReader(seg), read_options=read_opts,
                                  parse_options=parse_opts, convert_options=conv_opts,
                                  memory_pool=pool)
            if max_rows is not None and cols.pos + table.num_rows >= max_rows:
                truncated = truncated or cols.pos + table.num_rows > max_rows
                table = table.slice(0, max_rows - cols.pos)
            cols.append(table)
            del table
            pool.release_unused()
            if progress is not None:
                progress(min(0.95, 0.95 * consumed / total_bytes), f"read {cols.pos:,} rows")
            if max_rows is not None and cols.pos >= max_rows:
                break
    except DataError:
        raise
    except (pa.ArrowInvalid, _BadValues, LineTooLong, Suspicious, UnicodeDecodeError) as exc:
        err = locate(exc)
        if err is None:
            # The first max_rows rows are fine; pyarrow tripped on a later row of the same
            # segment. Parse exactly those rows.
            prefix = prefix_bytes(info, spec, max_rows, max_decompressed_bytes)
            parsed = read_delimited(SourceInfo(name=info.name, data=prefix, compressed=False),
                                    replace(spec, skip_rows=0), progress=progress)
            parsed.truncated = True
            return parsed
        raise err from None
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"could not read the file: {exc}", source=info.name) from None
    if cols.pos == 0:
        raise DataError("no data rows: the file is empty" if not head.strip()
                        else "no data rows after the header", source=info.name)
    return cols.finish(info, truncated, rescan)


def _concat_numpy(col: pa.ChunkedArray, dtype) -> np.ndarray:
    if col.num_chunks == 1:
        return col.chunks[0].to_numpy(zero_copy_only=False)
    return np.concatenate([c.to_numpy(zero_copy_only=False) for c in col.chunks]).astype(
        dtype, copy=False) if col.num_chunks else np.empty(0, dtype)


class _BadValues(Exception):
    pass


def _grow(a: np.ndarray, n: int) -> np.ndarray:
    b = np.empty(n, dtype=a.dtype)
    b[:len(a)] = a
    return b


def _shrink(a: np.ndarray, n: int) -> np.ndarray:
    if len(a) == n:
        return a
    if len(a) - n < max(n // 8, 1 << 16):
        a.resize(n, refcheck=False)   # shrinks in place (no copy)
        return a
    return a[:n].copy()


def remap_inplace(codes: np.ndarray, mapping: np.ndarray, chunk: int = 1 << 18) -> None:
    """``codes[:] = mapping[codes]`` without a full-size temporary."""
    for a in range(0, len(codes), chunk):
        seg = codes[a:a + chunk]
        np.take(mapping, seg, out=seg, mode="clip")


def finalize_ids(dictionary: pa.Array, *, sort: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """Raw id array from a unified dictionary, and the old-code -> new-code map when sorting.

    Ids that are all canonical integers (``"42"``, not ``"042"``) become ``int64``; with ``sort``
    the ids are ordered (numerically for integers, else lexicographically), which makes item codes
    increase within a user when the file lists each user's items in order, so
    :meth:`Interactions.from_codes` can skip its sort.
    """
    arr = dictionary
    pool = _pool()
    as_int = None
    if len(arr) and pc.all(pc.match_substring_regex(arr, r"^(0|-?[1-9][0-9]{0,17})$",
                                                    memory_pool=pool)).as_py():
        as_int = pc.cast(arr, pa.int64(), memory_pool=pool)
    keyed = as_int if as_int is not None else arr
    rank = None
    if sort and len(arr) > 1:
        order = pc.array_sort_indices(keyed, memory_pool=pool).to_numpy()
        if not np.all(order[1:] > order[:-1]):
            rank = np.empty(len(order), dtype=np.int32)
            rank[order] = np.arange(len(order), dtype=np.int32)
            keyed = pc.take(keyed, pa.array(order), memory_pool=pool)
    if as_int is not None:
        ids = keyed.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    else:
        ids = keyed.to_numpy(zero_copy_only=False)
        if ids.dtype != object:
            ids = ids.astype(object)
    return ids, rank


# ---- error path ---------------------------------------------------------------------------------
def _locate(info: SourceInfo, spec: DelimSpec, max_rows, max_decompressed_bytes,
            exc, lines=None) -> DataError | None:
    """Re-scan the file in Python to turn a parse failure into a precise :class:`DataError`.

    None when the re-scan finds nothing wrong within ``max_rows`` rows (the caller then reads
    just those rows). When the line rules accept every line that pyarrow refused, the message
    still names the lines of the segment pyarrow was parsing."""
    found = scan_for_error(info, spec, max_rows=max_rows,
                           max_decompressed_bytes=max_decompressed_bytes)
    if found is not None:
        return found
    if max_rows is not None:
        return None
    detail = f": {exc}" if exc is not None and not isinstance(exc, _BadValues) else ""
    where = f" in lines {lines[0]:,} to {lines[1]:,}" if lines else ""
    return DataError(f"could not parse the file as {spec.sep_name()}-separated values{where}"
                     f"{detail}", source=info.name, line=lines[0] if lines else None)


__all__ = ["Parsed", "read_delimited", "finalize_ids", "remap_inplace"]

"""Delimited text cut into segments of whole lines for the fast parser, and the byte checks that
pyarrow does not make.

pyarrow's CSV parser is lenient where the line-by-line rules (:mod:`mfcore.load._rows`) are not:
it takes a lone CR as a line end, glues text after a closing quote onto the field, lets a quoted
field run over a line end when it can, and keeps a byte-order mark in the middle of the text as
part of an id. :func:`suspicious` finds those bytes in a segment before it is parsed (cheap
one-byte ``find`` scans; the ``csv`` module only on segments holding a quote), so the
caller can re-scan the file line by line and name the line, as it does for anything pyarrow
rejects.
"""
from __future__ import annotations

import csv
import io
import os

import numpy as np
import pyarrow as pa

from ._io import GZIP_MAGIC, UTF8_BOM, SourceInfo, open_stream
from ._rows import DelimSpec


class LineTooLong(Exception):
    """A line longer than a whole segment."""


def estimate_rows(info: SourceInfo, head: bytes) -> int:
    """Rows expected in the file, from the average line length of its head (and, for gzip, the
    uncompressed size in the trailer, taken modulo 2**32 as the format stores it)."""
    n_lines = head.count(b"\n")
    if n_lines == 0 or not head:
        return 1024
    avg = len(head[:head.rfind(b"\n") + 1]) / n_lines
    size = info.size
    if info.compressed is not False and info.head(2) == GZIP_MAGIC:
        try:
            if info.data is not None:
                isize = int.from_bytes(info.data[-4:], "little")
            else:
                with info.open_raw() as f:
                    f.seek(-4, os.SEEK_END)
                    isize = int.from_bytes(f.read(4), "little")
        except OSError:
            isize = 0
        while isize < size and isize < (1 << 40):
            isize += 1 << 32
        size = isize
    return int(size / avg * 1.02) + 1024


def segments(info: SourceInfo, max_decompressed_bytes: int, seg_size: int, skip_lines: int,
             spec: DelimSpec):
    """Yield ``(pa.Buffer, bytes consumed so far, (first line, last line))``: runs of whole
    lines of at most ``seg_size``, with the 1-based numbers of their first and last lines in the
    file (so an error pyarrow finds there can be placed even when nothing else can).

    Each segment is handed over in memory of pyarrow's own (a copy of the reading buffer), so
    nothing pyarrow's threads hold refers to a Python object. The first ``skip_lines`` physical
    lines and a UTF-8 byte-order mark are left out. Raises :class:`Suspicious` before yielding a
    segment that :func:`suspicious` flags, :class:`LineTooLong` for a line over ``seg_size``.
    """
    compressed = info.compressed is not False and (
        info.head(2) == GZIP_MAGIC or info.lower_name.endswith((".gz", ".tgz")))
    if compressed:
        stream = open_stream(info, max_decompressed_bytes=max_decompressed_bytes)
    else:
        stream = io.BytesIO(info.data) if info.data is not None else info.open_raw(buffering=0)
    buf = bytearray(seg_size)
    mv = memoryview(buf)
    rem = 0
    consumed = 0
    line = 1                                # number of the first line in buf
    first = True
    try:
        with stream:
            eof = False
            while not eof:
                n = rem
                while n < seg_size:
                    k = stream.readinto(mv[n:])
                    if not k:
                        eof = True
                        break
                    n += k
                if n == 0:
                    break
                end = n if eof else buf.rfind(b"\n", 0, n) + 1
                if end == 0:
                    raise LineTooLong()
                start = 0
                if first:
                    first = False
                    if buf.startswith(UTF8_BOM):
                        start = len(UTF8_BOM)
                    for _ in range(skip_lines):
                        nl = buf.find(b"\n", start, end)
                        start = end if nl < 0 else nl + 1
                consumed += end - rem
                first_line = line + buf.count(b"\n", 0, start)
                line = first_line + count_newlines(buf, start, end)
                if end > start:
                    lines = (first_line, max(first_line, line - (buf[end - 1] == 10)))
                    why = suspicious(buf, start, end, spec)
                    if why:
                        raise Suspicious(why, lines)
                    yield arrow_copy(mv[start:end]), consumed, lines
                rem = n - end
                buf[:rem] = buf[end:n]
    finally:
        mv.release()


def arrow_copy(data) -> pa.Buffer:
    """``data`` copied into a buffer pyarrow allocated: its last reference may then drop in any
    thread without needing the GIL (a Python-owned buffer released by one of pyarrow's threads
    while the interpreter shuts down aborts the process)."""
    out = pa.allocate_buffer(len(data), resizable=False)
    np.frombuffer(out, dtype=np.uint8)[:] = np.frombuffer(data, dtype=np.uint8)
    return out


def count_newlines(buf: bytearray, start: int, end: int) -> int:
    """Line ends in ``buf[start:end]`` (numpy's vectorised compare: about 3x ``bytes.count``)."""
    return int(np.count_nonzero(np.frombuffer(buf, np.uint8, end - start, start) == 10))


class Suspicious(Exception):
    """A segment holds bytes that pyarrow would read differently from the line rules."""


def suspicious(buf: bytearray, start: int, end: int, spec: DelimSpec) -> str | None:
    """Why ``buf[start:end]`` cannot be trusted to the fast parser, or None.

    A CR that does not end a CRLF (a trailing one at the very end excepted), a byte-order mark,
    and — when fields may be quoted — any line with a quote that the strict ``csv`` rules refuse
    (text after a closing quote, a quote left open at the line end).
    """
    # One-byte finds run at memory speed; the counts and the three-byte find only run when
    # the byte is there at all (most files have no CR, and ASCII text has no 0xEF).
    if buf.find(b"\r", start, end) >= 0:
        lone = (buf.count(b"\r", start, end) - buf.count(b"\r\n", start, end)
                - (buf[end - 1] == 13))
        if lone > 0:
            return "a carriage return that does not end a line"
    if buf.find(UTF8_BOM[:1], start, end) >= 0 and buf.find(UTF8_BOM, start, end) >= 0:
        return "a byte-order mark inside the text"
    if spec.quoting and buf.find(b'"', start, end) >= 0:
        lines = bytes(buf[start:end]).decode("utf-8", "replace").split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        reader = csv.reader(lines, delimiter=spec.delimiter, quotechar='"', doublequote=True,
                            strict=True)
        try:
            rows = sum(1 for _ in reader)
        except csv.Error:
            return "a misplaced quote"
        if rows != len(lines):  # a quoted field ran over a line end
            return "a quoted field spanning lines"
    return None


__all__ = ["LineTooLong", "Suspicious", "arrow_copy", "count_newlines", "estimate_rows",
           "segments", "suspicious"]

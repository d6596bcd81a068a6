"""Line-by-line reading of delimited text: the row checks that name the line and field of a
problem, the sniffing of a file's first lines, and the slow exact re-scan that the fast parser in
:mod:`mfcore.load._delim` falls back to when pyarrow rejects a block."""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import DataError
from ..idcodec import MAX_ID_CHARS
from ._io import (DEFAULT_MAX_DECOMPRESSED_BYTES, SourceInfo, check_text_head, decode_line,
                  iter_lines, open_stream)

#: Longest line the line-by-line reader accepts (one parse segment of the fast reader).
MAX_LINE_BYTES = (8 << 20) - 1
F32_MAX = float(np.finfo(np.float32).max)
SEP_NAMES = {"\t": "tab", ",": "comma", ";": "semicolon", "|": "pipe", " ": "space"}


@dataclass
class DelimSpec:
    """How to read one delimited file."""

    delimiter: str
    n_cols: int
    user: int
    item: int
    value: int | None
    skip_rows: int = 0                      # header lines before the data
    quoting: bool = False
    names: list[str] = field(default_factory=list)   # column names for messages
    value_what: str = "value"               # "play count", "rating", ...
    allow_negative: bool = False
    header: tuple[str, ...] = ()            # the fields of the header line skipped, if any
    time: int | None = None                 # the column of each row's time (numbers)
    # The separator is the delimiter twice (MovieLens' '::'): read as ':' with an empty field
    # between two columns, so column k is field 2k.
    double: bool = False

    def sep_name(self) -> str:
        if self.double:
            return repr(self.delimiter * 2)
        return SEP_NAMES.get(self.delimiter, repr(self.delimiter))

    def col_name(self, k: int) -> str:
        if k < len(self.names) and self.names[k]:
            return self.names[k]
        return f"column {k // 2 + 1 if self.double else k + 1}"

    @property
    def n_logical(self) -> int:
        """The number of columns as the file's author sees them."""
        return (self.n_cols + 1) // 2 if self.double else self.n_cols


def prefix_bytes(info: SourceInfo, spec: DelimSpec, max_rows: int,
                 max_decompressed_bytes: int) -> bytes:
    """The text of the header lines and the first ``max_rows`` data rows."""
    out = bytearray()
    rows = 0
    with open_stream(info, max_decompressed_bytes=max_decompressed_bytes) as stream:
        for lineno, raw in iter_lines(stream, info.name, max_line_bytes=MAX_LINE_BYTES):
            if lineno <= spec.skip_rows:
                continue
            out += raw + b"\n"
            if raw:
                rows += 1
                if rows >= max_rows:
                    break
    return bytes(out)


def scan_for_error(info: SourceInfo, spec: DelimSpec, *, max_rows: int | None = None,
                   max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
                   ) -> DataError | None:
    """The first problem in the file as a :class:`DataError` naming line and field, or None."""
    rows = 0
    with open_stream(info, max_decompressed_bytes=max_decompressed_bytes) as stream:
        for lineno, raw in iter_lines(stream, info.name, max_line_bytes=MAX_LINE_BYTES):
            text = decode_line(raw, info.name, lineno)
            if lineno <= spec.skip_rows:
                continue
            if raw == b"":
                continue
            err = check_row(text, spec, info.name, lineno)
            if err is not None:
                return err
            rows += 1
            if max_rows is not None and rows >= max_rows:
                break
    return None


def split_row(text: str, spec: DelimSpec, name: str, lineno: int) -> list[str]:
    if not spec.quoting:
        return text.split(spec.delimiter)
    try:
        return next(csv.reader([text], delimiter=spec.delimiter, quotechar='"', doublequote=True,
                               strict=True))
    except csv.Error as exc:
        raise DataError(f"unbalanced or misplaced quote ({exc}); a quoted field must be closed "
                        f"on the same line", source=name, line=lineno) from None
    except StopIteration:  # pragma: no cover - empty lines are skipped before
        return [""]


def check_row(text: str, spec: DelimSpec, name: str, lineno: int) -> DataError | None:
    try:
        fields = split_row(text, spec, name, lineno)
    except DataError as exc:
        return exc
    if spec.double and len(fields) == spec.n_cols and any(fields[1::2]):
        return DataError(f"expected {spec.n_logical} {spec.sep_name()}-separated fields; the "
                         f"line has a single {spec.delimiter!r} inside a field",
                         source=name, line=lineno)
    if len(fields) != spec.n_cols:
        hint = ""
        others = [d for d in ("\t", ",", ";", "|") if d != spec.delimiter and d in text]
        found = (len(fields) + 1) // 2 if spec.double else len(fields)
        if "::" in text and not spec.double:
            hint = (" (the fields are separated by '::' as in MovieLens .dat files: detect the "
                    "format or choose CSV, which reads '::' too)")
        elif len(fields) == 1 and others:
            hint = (f" (the line contains {SEP_NAMES[others[0]]}s: is the file "
                    f"{SEP_NAMES[others[0]]}-separated? pick the matching format or delimiter)")
        elif spec.quoting and text.count('"') % 2:
            hint = " (the line has an unbalanced quote)"
        return DataError(f"expected {spec.n_logical} {spec.sep_name()}-separated fields, found "
                         f"{found}{hint}", source=name, line=lineno)
    if spec.header and tuple(fields) == spec.header:
        return DataError(f"the header line ({spec.delimiter.join(fields)[:80]!r}) is repeated "
                         "here; expected a data row (were files with headers joined?)",
                         source=name, line=lineno)
    for k, what in ((spec.user, "user id"), (spec.item, "item id")):
        if fields[k] == "":
            return DataError(f"empty {what}; expected a non-empty id", source=name, line=lineno,
                             field=spec.col_name(k))
        if len(fields[k]) > MAX_ID_CHARS:
            return DataError(f"{what} of {len(fields[k]):,} characters; ids are limited to "
                             f"{MAX_ID_CHARS:,}", source=name, line=lineno,
                             field=spec.col_name(k))
    if spec.value is not None:
        err = check_value(fields[spec.value], spec, name, lineno)
        if err is not None:
            return err
    if spec.time is not None:
        return check_time(fields[spec.time], spec, name, lineno)
    return None


def check_time(s: str, spec: DelimSpec, name: str, lineno: int) -> DataError | None:
    """A row's time must be a finite number (Unix seconds, or any increasing clock)."""
    try:
        v = float(s.strip())
    except ValueError:
        shown = s if len(s) <= 40 else s[:40] + "…"
        return DataError(f"time {shown!r} is not a number; expected a timestamp such as "
                         "Unix seconds", source=name, line=lineno,
                         field=spec.col_name(spec.time))
    if not math.isfinite(v):
        return DataError(f"time {s.strip()!r} is not finite", source=name, line=lineno,
                         field=spec.col_name(spec.time))
    return None


def check_value(s: str, spec: DelimSpec, name: str, lineno: int) -> DataError | None:
    fld = spec.col_name(spec.value)
    st = s.strip()
    try:
        v = float(st)
        if "_" in st or not st.isascii():  # float() takes 1_000 and non-ASCII digits
            raise ValueError
    except ValueError:
        shown = s if len(s) <= 40 else s[:40] + "…"
        return DataError(f"{spec.value_what} {shown!r} is not a number; expected a non-negative "
                         f"number" if not spec.allow_negative else
                         f"{spec.value_what} {shown!r} is not a number", source=name,
                         line=lineno, field=fld)
    if math.isnan(v):
        return DataError(f"{spec.value_what} {st!r} is NaN; expected a finite number",
                         source=name, line=lineno, field=fld)
    if math.isinf(v):
        return DataError(f"{spec.value_what} {st!r} is infinite (or too large for a 64-bit "
                         f"float); expected a finite number", source=name, line=lineno, field=fld)
    if abs(v) > F32_MAX:
        return DataError(f"{spec.value_what} {st!r} overflows float32 (largest {F32_MAX:.4g}); "
                         f"values are stored as float32", source=name, line=lineno, field=fld)
    if v < 0 and not spec.allow_negative:
        return DataError(f"negative {spec.value_what} {st!r}; expected a number >= 0",
                         source=name, line=lineno, field=fld)
    return None


# ---- sniffing ------------------------------------------------------------------------------------
def first_lines(head: bytes, name: str, n: int = 20) -> list[tuple[int, str]]:
    """Up to ``n`` complete, non-empty decoded lines from the start of the content."""
    check_text_head(head, name)
    if b"\n" not in head and len(head) >= 65536:
        raise DataError(f"the line is longer than {len(head):,} bytes; expected short delimited "
                        f"records (is this the right file, and does it use newlines?)",
                        source=name, line=1)
    out = []
    complete = head.split(b"\n")
    if len(complete) > 1:
        cut = complete.pop()       # the last piece may be cut
        if len(head) >= 65536 and len(cut) > 32768 and sum(1 for c in complete if c.strip()) < 2:
            # A line too long to sniff right after the first: say so, not "only a header".
            raise DataError(f"the line is longer than {len(cut):,} bytes (the start of the file "
                            f"holds no second record); expected short delimited records (is "
                            f"this the right file, and does it use newlines?)", source=name,
                            line=len(complete) + 1)
    for i, raw in enumerate(complete, 1):
        raw = raw[:-1] if raw.endswith(b"\r") else raw
        if not raw:
            continue
        out.append((i, decode_line(raw, name, i)))
        if len(out) >= n:
            break
    return out


def is_number(s: str) -> bool:
    try:
        float(s.strip())
        return True
    except ValueError:
        return False

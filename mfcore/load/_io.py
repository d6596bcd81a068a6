"""Shared input plumbing for the loaders: sources, sniffing, capped decompression, line scanning.

A *source* is either a filesystem path (``str`` / ``os.PathLike``) or a ``(name, data)`` tuple of
an upload's file name and its raw bytes. :func:`resolve` turns either into a :class:`SourceInfo`
that every loader uses, so "where did this come from" and "how do I read it" live in one place.
"""
from __future__ import annotations

import gzip
import io
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Union

from ..errors import DataError
from ._files import checked_path, open_checked, real_root

Source = Union[str, os.PathLike, "tuple[str, bytes]"]

#: Default cap on bytes produced by decompression (a gzip "bomb" is refused once it passes it).
DEFAULT_MAX_DECOMPRESSED_BYTES = 20 * 2**30
#: Longest physical line the Python re-scan accepts before calling the file malformed.
MAX_LINE_BYTES = 1 << 20

GZIP_MAGIC = b"\x1f\x8b"
SQLITE_MAGIC = b"SQLite format 3\x00"
PARQUET_MAGIC = b"PAR1"
UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class SourceInfo:
    """A resolved source: a path on disk, or an in-memory upload."""

    name: str                       # for messages: the path as given, or the upload's name
    path: Path | None = None        # set for files and folders
    data: bytes | None = None       # set for uploads
    compressed: bool | None = None  # None: decide from the magic bytes (and the name)
    root: Path | None = None        # real path every file opened must lie in (None: anywhere)

    @property
    def is_dir(self) -> bool:
        return self.path is not None and self.path.is_dir()

    @property
    def size(self) -> int:
        return len(self.data) if self.data is not None else self.path.stat().st_size

    @property
    def lower_name(self) -> str:
        return (self.path.name if self.path is not None else Path(self.name).name).lower()

    def open_raw(self, buffering: int = -1) -> BinaryIO:
        """The undecoded bytes, as a binary stream (a file through :func:`open_checked`)."""
        if self.data is not None:
            return io.BytesIO(self.data)
        return open_checked(self.path, self.name, self.root, buffering=buffering)

    def head(self, n: int = 4096) -> bytes:
        """The first ``n`` raw bytes (compressed bytes for a compressed file)."""
        if self.data is not None:
            return self.data[:n]
        if self.is_dir:
            return b""
        with self.open_raw() as f:
            return f.read(n)


def resolve(source: Source, confine_to=None) -> SourceInfo:
    """Turn a path or a ``(name, bytes)`` upload into a :class:`SourceInfo`.

    Parameters
    ----------
    source : path, (name, bytes) or SourceInfo
    confine_to : path, optional
        A folder every file read for this source must lie in, on its resolved real path (the
        dashboard's data folder); None: anywhere.

    Raises
    ------
    DataError
        When the path does not exist, leaves ``confine_to``, is neither a regular file nor a
        folder (a FIFO, a device...), or the tuple is not ``(str, bytes)``.
    """
    if isinstance(source, SourceInfo):
        return source
    if isinstance(source, tuple):
        if (len(source) != 2 or not isinstance(source[0], str)
                or not isinstance(source[1], (bytes, bytearray, memoryview))):
            raise DataError("an upload must be given as a (name, bytes) tuple")
        return SourceInfo(name=source[0], data=bytes(source[1]))
    if isinstance(source, (bytes, bytearray)):
        raise DataError("raw bytes need a file name: pass (name, data)")
    try:
        path = Path(os.fspath(source)).expanduser()
    except TypeError:
        raise DataError(f"not a path or a (name, bytes) upload: {type(source).__name__}") from None
    root = real_root(confine_to)
    checked_path(path, str(source), root, folder_ok=True)
    return SourceInfo(name=str(source), path=path, root=root)


def check_text_head(head: bytes, name: str) -> None:
    """Refuse text encodings the loaders do not read (UTF-16/32 with a byte-order mark) and
    CR-only line ends."""
    if head[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        raise DataError("the file is UTF-32 encoded (it starts with a byte-order mark); "
                        "expected UTF-8 text", source=name, line=1)
    if head[:2] in _UTF16_BOMS:
        raise DataError("the file is UTF-16 encoded (it starts with a byte-order mark); "
                        "expected UTF-8 text: re-save it as UTF-8", source=name, line=1)
    sample = head[:4096]
    if len(sample) >= 8 and sample.count(0) * 3 >= len(sample):
        # Latin text in UTF-16 without a byte-order mark: every other byte is NUL.
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) >= 0.9 * len(odd) and even.count(0) <= 0.1 * len(even) or \
                even.count(0) >= 0.9 * len(even) and odd.count(0) <= 0.1 * len(odd):
            raise DataError("the file looks UTF-16 encoded (every other byte is NUL, no "
                            "byte-order mark); expected UTF-8 text: re-save it as UTF-8",
                            source=name, line=1)
    if b"\r" in sample and b"\n" not in sample:
        raise DataError("the file uses CR-only line ends (classic Mac OS); expected LF or CRLF "
                        "line ends: re-save it with Unix or Windows line ends", source=name,
                        line=1)


class CappedReader(io.RawIOBase):
    """A read-only stream that raises :class:`DataError` once more than ``cap`` bytes came out.

    Wrapped around a decompressor it stops a decompression bomb *while* it expands: every read
    asks the inner stream for at most what is left under the cap (plus one byte, to notice).
    """

    def __init__(self, inner: BinaryIO, cap: int, name: str, what: str = "decompressed") -> None:
        super().__init__()
        self._inner = inner
        self.cap = int(cap)
        self.name = name
        self.what = what
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf) -> int:
        want = min(len(buf), self.cap - self.count + 1)
        try:
            chunk = self._inner.read(max(want, 1))
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise DataError(f"corrupt or truncated compressed data after {self.count:,} "
                            f"{self.what} bytes ({exc})", source=self.name) from None
        n = len(chunk)
        self.count += n
        if self.count > self.cap:
            raise DataError(f"the {self.what} data exceeds the limit of {self.cap:,} bytes "
                            f"(max_decompressed_bytes); stopped reading at that point",
                            source=self.name)
        buf[:n] = chunk
        return n

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            super().close()


def open_stream(info: SourceInfo, *, max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES,
                ) -> BinaryIO:
    """Open the content of a file: gzip is decompressed (with the cap), anything else as is.

    A name ending in ``.gz`` whose bytes are not gzip is a :class:`DataError`.
    """
    head = info.head(2)
    if info.compressed is False:
        return info.open_raw()
    if head == GZIP_MAGIC:
        raw = info.open_raw()
        gz = gzip.GzipFile(fileobj=raw, mode="rb")
        return io.BufferedReader(CappedReader(gz, max_decompressed_bytes, info.name),
                                 buffer_size=_READ_CHUNK)
    if info.lower_name.endswith((".gz", ".tgz")):
        raise DataError(f"the name says gzip but the file is not gzip-compressed (it starts "
                        f"with {head!r}; gzip files start with b'\\x1f\\x8b')", source=info.name)
    return info.open_raw()


def content_head(info: SourceInfo, n: int = 65536, *,
                 max_decompressed_bytes: int = DEFAULT_MAX_DECOMPRESSED_BYTES) -> bytes:
    """The first ``n`` bytes of the *content* (decompressed when gzip)."""
    with open_stream(info, max_decompressed_bytes=max_decompressed_bytes) as f:
        out = bytearray()
        while len(out) < n:
            chunk = f.read(n - len(out))
            if not chunk:
                break
            out += chunk
        return bytes(out)


def iter_lines(stream: BinaryIO, name: str, *, max_line_bytes: int = MAX_LINE_BYTES,
               ) -> Iterator[tuple[int, bytes]]:
    """Yield ``(1-based line number, line without its end-of-line)`` from a binary stream.

    Lines longer than ``max_line_bytes`` raise :class:`DataError` without being held whole.
    """
    lineno = 0
    carry = b""
    while True:
        chunk = stream.read(_READ_CHUNK)
        if not chunk:
            break
        parts = (carry + chunk).split(b"\n")
        carry = parts.pop()
        for part in parts:
            lineno += 1
            if len(part) > max_line_bytes:
                _too_long(name, lineno, max_line_bytes)
            yield lineno, part[:-1] if part.endswith(b"\r") else part
        if len(carry) > max_line_bytes:
            _too_long(name, lineno + 1, max_line_bytes)
    if carry:
        yield lineno + 1, carry[:-1] if carry.endswith(b"\r") else carry


def _too_long(name: str, lineno: int, limit: int) -> None:
    raise DataError(f"the line is longer than {limit:,} bytes; expected short delimited records "
                    f"(is this the right file, and does it use newlines?)", source=name,
                    line=lineno)


def decode_line(raw: bytes, name: str, lineno: int) -> str:
    """Decode one line as strict UTF-8, naming the position of a bad byte."""
    if lineno == 1 and raw.startswith(UTF8_BOM):
        raw = raw[len(UTF8_BOM):]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start:exc.start + 1]
        hint = (" (it looks like Latin-1 / Windows-1252 text: re-save the file as UTF-8)"
                if bad and bad[0] >= 0x80 else "")
        raise DataError(f"invalid UTF-8 byte {bad!r} at byte {exc.start + 1} of the line; "
                        f"expected UTF-8 text{hint}", source=name, line=lineno) from None
    if "\x00" in text:
        raise DataError(f"NUL byte at character {text.index(chr(0)) + 1} of the line; expected "
                        f"text (is this a binary or UTF-16 file?)", source=name, line=lineno)
    if "\r" in text:
        raise DataError(f"carriage return (CR) at character {text.index(chr(13)) + 1} of the "
                        "line, not at its end; expected LF or CRLF line ends (are CR-only "
                        "line ends mixed in?)", source=name, line=lineno)
    if "\ufeff" in text:
        raise DataError(f"a byte-order mark (U+FEFF) at character {text.index(chr(0xFEFF)) + 1}"
                        " of the line; it belongs only at the start of a file (were two files "
                        "joined together?)", source=name, line=lineno)
    return text


def looks_like_tar(info: SourceInfo) -> bool:
    """True when the (decompressed) content starts with a POSIX tar header."""
    try:
        raw = info.open_raw()
        try:
            f = gzip.GzipFile(fileobj=raw) if info.head(2) == GZIP_MAGIC else raw
            block = f.read(512)
        finally:
            raw.close()
    except (OSError, EOFError):
        return False
    return is_tar_header(block)


def is_tar_header(block: bytes) -> bool:
    """True when ``block`` starts with a POSIX tar header (the ``ustar`` magic at byte 257)."""
    return len(block) >= 262 and block[257:262] == b"ustar"

"""Arrays of stored (uncompressed) ``.npz`` members, read without ``zipfile``'s chunked copies.

``np.load(...)[name]`` reads a member through ``zipfile`` in small chunks, copying each and
updating the CRC as it goes: 0.65 s for the 400 MB of factors of a model of the full MSD.
:func:`read_stored` reads the member's bytes straight into the array (one copy from the page
cache) and checks the CRC in one pass; :func:`map_stored` maps it read-only instead. Both return
None for a member they cannot take (compressed, Fortran order, object dtype): the caller then
reads it the ordinary way.
"""
from __future__ import annotations

import struct
import zipfile
import zlib

import numpy as np

_LOCAL = 30


def _data_start(f, info: zipfile.ZipInfo) -> int:
    """Offset of the member's first byte in the archive (after its local header)."""
    f.seek(info.header_offset)
    local = f.read(_LOCAL)
    if len(local) != _LOCAL or local[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"member {info.filename!r} has no local header")
    n_name, n_extra = struct.unpack("<HH", local[26:30])
    return info.header_offset + _LOCAL + n_name + n_extra


def array_header(f) -> tuple[tuple, bool, np.dtype] | None:
    """``(shape, fortran_order, dtype)`` of the ``.npy`` stream ``f`` (read from its start; it
    is left at the data), or None for a format version other than the 1.0 and 2.0 numpy writes."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(f)
    return None


def _header(f, info: zipfile.ZipInfo):
    """``(start, shape, dtype, data offset)`` of a stored member, or None when not plain."""
    if info.compress_type != zipfile.ZIP_STORED:
        return None
    start = _data_start(f, info)
    f.seek(start)
    header = array_header(f)
    if header is None:
        return None
    shape, fortran, dtype = header
    if fortran or dtype.hasobject:
        return None
    data_at = f.tell()
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if data_at - start + nbytes != info.file_size:
        raise ValueError(f"member {info.filename!r} declares {nbytes:,} bytes of data but holds "
                         f"{info.file_size - (data_at - start):,}")
    return start, shape, dtype, data_at


def read_stored(f, info: zipfile.ZipInfo) -> np.ndarray | None:
    """The member's array (an owned, writable copy), its CRC checked; None: read it otherwise.

    Raises
    ------
    zipfile.BadZipFile
        The CRC does not match, or the member is cut short.
    """
    head = _header(f, info)
    if head is None:
        return None
    start, shape, dtype, data_at = head
    out = np.empty(shape, dtype)
    view = memoryview(out.reshape(-1)).cast("B")
    f.seek(start)
    crc = zlib.crc32(f.read(data_at - start))
    if f.readinto(view) != len(view):
        raise zipfile.BadZipFile(f"member {info.filename!r} is cut short")
    if zlib.crc32(view, crc) != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")
    return out


def map_stored(f, info: zipfile.ZipInfo, path) -> np.ndarray | None:
    """The member's array mapped read-only from ``path`` (no CRC check: only the pages touched
    are read); None when it cannot be mapped."""
    head = _header(f, info)
    if head is None:
        return None
    _, shape, dtype, data_at = head
    if not all(shape):
        return np.zeros(shape, dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=data_at, shape=shape)

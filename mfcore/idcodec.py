"""Raw ids in ``.npz`` files, compactly and without pickle: the parsed-data cache and model files.

Integer ids are one ``int64`` array under the name ``prefix``. Text ids are their UTF-8 bytes
end to end (``prefix_data``, ``uint8``) and ``n + 1`` offsets into them (``prefix_offsets``,
``int32``, or ``int64`` past 2 GiB of bytes; missing values, where allowed, in a
``prefix_valid`` mask): a file costs the ids' own bytes, however long the longest one is (a
fixed-width unicode array costs 4 bytes × the longest id × the number of ids: one id of 400,000
characters made a 0.4 MB dataset a 162 MB model).

Reading checks the block before building anything from it (offsets that start at 0, never
decrease and end at the data's length, valid UTF-8) and refuses ids longer than
:data:`MAX_ID_CHARS`, the same limit the loaders apply to the ids of a data file.
:func:`find_text` and :func:`text_at` look one id up and read a few back from a checked block
without decoding the others (one user's recommendations from a million-user model); pyarrow,
which decodes whole blocks, is imported only by the functions that use it.
"""
from __future__ import annotations

import numpy as np

#: Longest id (in characters) a data file or a model file may hold.
MAX_ID_CHARS = 1 << 19


def pack_strings(values, prefix: str, out: dict) -> None:
    """Store text ``values`` (None allowed) as ``prefix_offsets``/``prefix_data`` in ``out``."""
    import pyarrow as pa

    arr = pa.array(values, type=pa.large_string(), from_pandas=True)
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    arr = arr.fill_null("")
    _, offsets, data = arr.buffers()
    n = len(arr)
    offs = np.frombuffer(offsets, dtype=np.int64, count=n + 1, offset=arr.offset * 8).copy()
    start, stop = offs[0], offs[-1]
    offs -= start
    # int32 offsets while the bytes fit (every id file in practice): 4 bytes an id less, a
    # quarter of the MSD's id bytes. Readers take either width.
    out[prefix + "_offsets"] = offs.astype(np.int32) if offs[-1] < 2**31 else offs
    out[prefix + "_data"] = (np.frombuffer(data, dtype=np.uint8)[start:stop].copy()
                             if data is not None else np.zeros(0, np.uint8))
    if not valid.all():
        out[prefix + "_valid"] = valid


def unpack_strings(z, prefix: str, *, max_chars: int | None = MAX_ID_CHARS) -> np.ndarray:
    """The text values :func:`pack_strings` stored under ``prefix`` (an object array).

    Raises
    ------
    ValueError
        A malformed block (saying what is wrong), or a value longer than ``max_chars``.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    offsets, data = z[prefix + "_offsets"], z[prefix + "_data"]
    check_block(offsets, data, prefix)
    kind = pa.StringArray if offsets.dtype == np.int32 else pa.LargeStringArray
    arr = kind.from_buffers(len(offsets) - 1, pa.py_buffer(np.ascontiguousarray(offsets)),
                            pa.py_buffer(data))
    try:
        arr.validate(full=True)
    except pa.ArrowInvalid:
        raise ValueError(f"'{prefix}' is not valid UTF-8") from None
    if max_chars is not None and len(arr):
        longest = pc.max(pc.utf8_length(arr)).as_py()
        if longest > max_chars:
            raise ValueError(f"'{prefix}' holds an id of {longest:,} characters; ids are "
                             f"limited to {max_chars:,}")
    out = arr.to_numpy(zero_copy_only=False).astype(object, copy=False)
    if prefix + "_valid" in z:
        valid = z[prefix + "_valid"]
        if valid.dtype != np.bool_ or valid.shape != out.shape:
            raise ValueError(f"'{prefix}' has a malformed validity mask")
        out[~valid] = None
    return out


def check_block(offsets: np.ndarray, data: np.ndarray, prefix: str) -> None:
    """Refuse offsets + data that are not a text block: the offsets must be int32 or int64,
    start at 0, never decrease and end at the data's (``uint8``) length.

    Raises
    ------
    ValueError
        Saying which.
    """
    if offsets.dtype not in (np.int32, np.int64) or data.dtype != np.uint8 \
            or offsets.ndim != 1 or data.ndim != 1 or len(offsets) < 1:
        raise ValueError(f"'{prefix}' is not an offsets + UTF-8 block")
    if offsets[0] != 0 or offsets[-1] != len(data) or np.any(np.diff(offsets) < 0):
        raise ValueError(f"'{prefix}' has inconsistent offsets")


def check_ints(ids: np.ndarray, prefix: str) -> None:
    """Refuse integer ids that are not one vector of ``int64`` (ValueError)."""
    if ids.dtype != np.int64 or ids.ndim != 1:
        raise ValueError(f"'{prefix}' is not a vector of 64-bit integers")


def find_text(offsets: np.ndarray, data: np.ndarray, raw: str) -> np.ndarray:
    """Positions of the id ``raw`` in a checked text block (:func:`check_block`), compared as
    UTF-8 bytes, without decoding the others; more than one when the block repeats it.

    Candidates are the ids of ``raw``'s length; one byte column at a time (from the last byte,
    where ids written with a common prefix differ) drops those that differ, then the few left
    are compared whole.
    """
    try:
        key = raw.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no UTF-8 id equals it
        return np.zeros(0, np.int64)
    starts = np.asarray(offsets[:-1], dtype=np.int64)
    cand = np.flatnonzero(np.diff(offsets) == len(key))
    pos = starts[cand]
    for j in range(len(key) - 1, -1, -1):
        if len(cand) <= 16:
            break
        keep = np.asarray(data[pos + j]) == key[j]
        cand, pos = cand[keep], pos[keep]
    return np.array([c for c, at in zip(cand.tolist(), pos.tolist())
                     if bytes(data[at:at + len(key)]) == key], dtype=np.int64)


def find_int(ids: np.ndarray, raw: str) -> np.ndarray:
    """Positions of the integer id written ``raw`` in ``ids`` (compared as text: ``'07'`` is
    not ``7``)."""
    try:
        value = int(raw)
    except ValueError:
        return np.zeros(0, np.int64)
    if str(value) != raw or not -2**63 <= value < 2**63:
        return np.zeros(0, np.int64)
    return np.flatnonzero(ids == value)


def text_at(offsets: np.ndarray, data: np.ndarray, i: int, prefix: str,
            max_chars: int | None = MAX_ID_CHARS) -> str:
    """Id ``i`` of a checked text block, decoded.

    Raises
    ------
    ValueError
        Not valid UTF-8, or longer than ``max_chars`` (the messages of :func:`unpack_strings`).
    """
    try:
        text = bytes(data[offsets[i]:offsets[i + 1]]).decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"'{prefix}' is not valid UTF-8") from None
    if max_chars is not None and len(text) > max_chars:
        raise ValueError(f"'{prefix}' holds an id of {len(text):,} characters; ids are "
                         f"limited to {max_chars:,}")
    return text


def pack_ids(ids, prefix: str, out: dict) -> str:
    """Store raw ids in ``out``; returns their kind, ``'int'`` or ``'str'``."""
    ids = np.asarray(ids)
    if ids.dtype.kind in "iu":
        out[prefix] = ids.astype(np.int64, copy=False)
        return "int"
    pack_strings(ids.astype(object, copy=False), prefix, out)
    return "str"


def unpack_ids(z, kind: str, prefix: str) -> np.ndarray:
    """The ids :func:`pack_ids` stored under ``prefix`` with kind ``kind``.

    Raises
    ------
    ValueError
        An unknown kind, an int block that is not one int64 vector, or a bad text block.
    """
    if kind == "int":
        ids = z[prefix]
        check_ints(ids, prefix)
        return ids
    if kind == "str":
        return unpack_strings(z, prefix)
    raise ValueError(f"unknown id kind {kind!r} for '{prefix}'")


__all__ = ["MAX_ID_CHARS", "check_block", "check_ints", "find_int", "find_text", "pack_ids",
           "pack_strings", "text_at", "unpack_ids", "unpack_strings"]

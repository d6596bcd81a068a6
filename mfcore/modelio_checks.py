"""The checks a model file passes before :mod:`mfcore.modelio` builds anything from it.

:func:`check_members` looks at the zip directory and at each member's ``.npy`` header only — no
array is read — and refuses a member whose header declares more (or less) data than the member
holds, a compressed member that would expand more than :data:`MAX_EXPANSION` times (mfcore
writes its members uncompressed), object dtypes (pickle), and ``.npy`` versions it does not
read. So reading the arrays afterwards allocates no more than the file's own size, or that many
times a compressed member's size.

:func:`check_meta` checks the type of every field ``meta_json`` may have.
"""
from __future__ import annotations

import math
import zipfile

import numpy as np

from ._zipmember import array_header
from .errors import ModelFileError

#: The most a compressed member may expand (uncompressed size / stored size).
MAX_EXPANSION = 64
#: Slack for small compressed members (headers, tiny arrays) under :data:`MAX_EXPANSION`.
_SMALL = 1 << 16

#: meta_json field -> (accepted types, in words); null is accepted for every field.
_META_TYPES = {
    "params": (dict, "an object"), "history": (list, "a list"), "status": (str, "a string"),
    "best_epoch": (int, "an integer"), "diverged_at": (list, "an [epoch, step] pair"),
    "fingerprint": (str, "a string"), "source": (str, "a string"),
    "id_kinds": (dict, "an object"), "n_users": (int, "an integer"),
    "n_items": (int, "an integer"), "factors": (int, "an integer"),
    "biased": (bool, "true or false"), "saved_at": (str, "a string"),
}


def npy_header(f) -> tuple[tuple, np.dtype, int]:
    """``(shape, dtype, header bytes)`` of the ``.npy`` stream ``f`` (read from its start)."""
    header = array_header(f)
    if header is None:
        raise ModelFileError("an .npy format version mfcore does not write (1.0 or 2.0)")
    shape, _, dtype = header
    return shape, dtype, f.tell()


def check_members(zf: zipfile.ZipFile) -> None:
    """Check every ``.npy`` member's declared size against what it holds (module docstring).

    Raises
    ------
    ModelFileError
        Naming the member.
    """
    for info in zf.infolist():
        if not info.filename.endswith(".npy"):
            continue
        name = info.filename[:-4]
        if info.compress_type == zipfile.ZIP_STORED:
            if info.file_size != info.compress_size:
                raise ModelFileError(f"member {name!r} is damaged: stored uncompressed but "
                                     f"declares {info.file_size:,} bytes in {info.compress_size:,}")
        elif info.file_size > MAX_EXPANSION * info.compress_size + _SMALL:
            raise ModelFileError(f"member {name!r} would expand from {info.compress_size:,} to "
                                 f"{info.file_size:,} bytes, more than {MAX_EXPANSION} times "
                                 "(a decompression bomb?); mfcore writes models uncompressed")
        try:
            with zf.open(info) as f:
                shape, dtype, header = npy_header(f)
        except (ValueError, EOFError, OSError, zipfile.BadZipFile) as e:
            raise ModelFileError(f"member {name!r} has no readable .npy header ({e})") from None
        if dtype.hasobject:
            raise ModelFileError(f"member {name!r} holds pickled (object) arrays, which are "
                                 "never loaded; it was not written by mfcore")
        declared = math.prod(int(d) for d in shape) * dtype.itemsize
        if declared != info.file_size - header:
            raise ModelFileError(f"member {name!r} declares a {dtype} array of shape {shape} "
                                 f"({declared:,} bytes) but holds {info.file_size - header:,} "
                                 "bytes of data")


def check_meta(meta: dict) -> None:
    """Refuse a ``meta_json`` field of the wrong type (see :data:`_META_TYPES`)."""
    for field, (types, words) in _META_TYPES.items():
        v = meta.get(field)
        if v is None:
            continue
        if not isinstance(v, types) or (types is int and isinstance(v, bool)):
            shown = json_repr(v)
            raise ModelFileError(f"model file meta_json field '{field}' must be {words} or "
                                 f"null, got {shown} ({type(v).__name__})")
    for field in ("n_users", "n_items", "factors", "best_epoch"):
        if meta.get(field) is not None and meta[field] < 0:
            raise ModelFileError(f"model file meta_json field '{field}' must be >= 0, got "
                                 f"{meta[field]}")
    div = meta.get("diverged_at")
    if div is not None and (len(div) != 2 or not all(
            isinstance(x, int) and not isinstance(x, bool) for x in div)):
        raise ModelFileError(f"model file meta_json field 'diverged_at' must be an [epoch, "
                             f"step] pair of integers, got {json_repr(div)}")
    kinds = meta.get("id_kinds") or {}
    for name, kind in kinds.items():
        if name not in ("user_ids", "item_ids") or kind not in ("int", "str", None):
            raise ModelFileError(f"model file meta_json field 'id_kinds' has {name!r}: "
                                 f"{json_repr(kind)}; expected user_ids / item_ids: 'int', "
                                 "'str' or null")


def repeated_id(name: str, raw, first: int, k: int) -> ModelFileError:
    """The error for ids ``name`` holding ``raw`` at 0-based positions ``first`` and ``k``."""
    return ModelFileError(f"model file {name!r} repeats the id {str(raw)[:60]!r} (entries "
                          f"{first + 1} and {k + 1}); every user and item needs its own id")


def json_repr(v) -> str:
    """A value for a message, cut to 60 characters."""
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


__all__ = ["MAX_EXPANSION", "check_members", "check_meta", "json_repr", "npy_header",
           "repeated_id"]

"""An opened model file: the one way a model file is read, whole (:func:`mfcore.modelio.load_model`)
or in part (one user's recommendations, :mod:`mfcore.userrec`).

:class:`ModelFile` opens the file as the loaders open theirs (a regular file, no FIFO), refuses
what is not a numpy archive (a pickle, a single ``.npy``) and checks every member's ``.npy``
header before any array is read (:func:`mfcore.modelio_checks.check_members`: sizes, expansion,
object dtypes). :func:`read_meta` then parses and type-checks ``meta_json``, and
:func:`check_arrays` the factors' dtypes and shapes against each other and the meta. A member is
then read whole (``model_file[name]``: straight into its array, CRC checked) or, when stored
uncompressed, mapped (:meth:`ModelFile.mapped`: only the pages touched are read, no CRC).
Every problem is a :class:`~mfcore.errors.ModelFileError` whose message starts with the file.
"""
from __future__ import annotations

import contextlib
import json
import zipfile
from pathlib import Path

import numpy as np

from ._zipmember import map_stored, read_stored
from .errors import DataError, ModelFileError
from .load._files import open_checked
from .model import EpochStats
from .modelio_checks import check_members, check_meta, npy_header

FORMAT_MARKER = "mfcore-model"
FORMAT_VERSION = 2
#: Arrays every version has; version 1 also always has ``user_ids`` and ``item_ids``.
ARRAYS = ("user_factors", "item_factors", "user_bias", "item_bias", "global_mean", "meta_json")
ID_NAMES = ("user_ids", "item_ids")
FACTORS = ("user_factors", "item_factors", "user_bias", "item_bias", "global_mean")

__all__ = ["ARRAYS", "FACTORS", "FORMAT_MARKER", "FORMAT_VERSION", "ID_NAMES", "ModelFile",
           "check_arrays", "check_finite", "history_of", "id_count", "missing_arrays", "read_meta",
           "without_ids"]


class ModelFile:
    """A model file opened and checked up to its members' headers (module docstring).

    Parameters
    ----------
    path : str or Path

    Raises
    ------
    ModelFileError
        Missing, not a regular file, not a numpy archive, or a member failing its header check.
    """

    def __init__(self, path) -> None:
        self.path = Path(path)
        try:
            self.f = open_checked(self.path, str(self.path))
        except DataError as e:
            raise ModelFileError(str(e).replace("no such file or folder",
                                                "no such model file")) from None
        try:
            self._open()
        except BaseException:
            self.f.close()
            raise

    def _open(self) -> None:
        head = self.f.read(8)
        if not head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
            what = ("pickled Python objects, which are never loaded" if head[:1] == b"\x80"
                    else f"it starts with {head!r}")
            raise ModelFileError(f"{self.path}: not an mfcore model file (not a numpy .npz "
                                 f"archive: {what})")
        if head.startswith(b"\x93NUMPY"):
            self.f.seek(0)
            try:
                pickled = npy_header(self.f)[1].hasobject
            except (ValueError, EOFError, ModelFileError):
                pickled = False
            what = ("pickled Python objects, which are never loaded" if pickled
                    else "a single array")
            raise ModelFileError(f"{self.path}: a single numpy array, not an mfcore model file "
                                 f"({what})")
        with self.reading():
            self.f.seek(0)
            self.zf = zipfile.ZipFile(self.f)
            check_members(self.zf)
            self.members = {i.filename[:-4]: i for i in self.zf.infolist()
                            if i.filename.endswith(".npy")}

    @contextlib.contextmanager
    def reading(self):
        """Turn what reading the file raises into a ModelFileError that starts with the file."""
        try:
            yield self
        except ModelFileError as e:
            raise ModelFileError(f"{self.path}: {e}") from None
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
            if "pickle" in str(e).lower():
                raise ModelFileError(f"{self.path}: the file holds pickled data, which is never "
                                     f"loaded; it is not an mfcore model") from None
            raise ModelFileError(f"{self.path}: not an mfcore model file ({e})") from None

    def keys(self):
        """The names of the archive's arrays (``.npy`` members)."""
        return self.members.keys()

    def __contains__(self, name) -> bool:
        return name in self.members

    def __getitem__(self, name: str) -> np.ndarray:
        """The whole array ``name``: a stored member read straight into it, its CRC checked
        (:func:`mfcore._zipmember.read_stored`), a compressed one as numpy reads it."""
        info = self.members[name]
        a = read_stored(self.f, info)
        if a is None:
            with self.zf.open(info) as member:
                a = np.lib.format.read_array(member, allow_pickle=False)
        return a

    def mapped(self, name: str) -> np.ndarray:
        """The array ``name`` mapped read-only when its member is stored uncompressed (pages are
        read as they are touched, the CRC is not checked), else read whole."""
        a = map_stored(self.f, self.members[name], self.path)
        return self[name] if a is None else a

    def close(self) -> None:
        self.f.close()

    def __enter__(self) -> "ModelFile":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_meta(npz) -> dict:
    """The parsed, type-checked ``meta_json`` of an opened model file (or mapping of arrays).

    Raises
    ------
    ModelFileError
        Not an mfcore model, a format version this mfcore does not read, a field of the wrong
        type (:func:`mfcore.modelio_checks.check_meta`).
    """
    if "meta_json" not in npz:
        raise ModelFileError("not an mfcore model file: it has no 'meta_json' entry")
    raw = np.asarray(npz["meta_json"])
    if raw.dtype.kind != "U" or raw.shape != ():
        raise ModelFileError(f"not an mfcore model file: meta_json is {raw.dtype} {raw.shape}, "
                             "not one string")
    try:
        meta = json.loads(str(raw[()]))
    except json.JSONDecodeError as e:
        raise ModelFileError(f"not an mfcore model file: meta_json is not JSON ({e})") from None
    except RecursionError:
        raise ModelFileError("not an mfcore model file: meta_json is nested too deeply") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_MARKER:
        raise ModelFileError("not an mfcore model file: the format marker is missing")
    version = meta.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise ModelFileError(f"model file format version {version!r} is newer than this "
                             f"mfcore reads ({FORMAT_VERSION}); upgrade mfcore")
    if version not in range(1, FORMAT_VERSION + 1) or isinstance(version, bool):
        raise ModelFileError(f"model file format version {version!r} is not one this mfcore "
                             f"reads (1 to {FORMAT_VERSION})")
    check_meta(meta)
    return meta


def missing_arrays(npz, meta: dict) -> None:
    """Refuse a file without every array its format version always has."""
    need = ARRAYS + (ID_NAMES if meta["format_version"] == 1 else ())
    missing = [a for a in need if a not in npz]
    if missing:
        raise ModelFileError(f"model file is missing arrays: {', '.join(missing)}")


def check_arrays(arr: dict, meta: dict) -> None:
    """The factors' dtypes and shapes, against each other and ``meta`` (no value is read)."""
    P, Q = arr["user_factors"], arr["item_factors"]
    bu, bi, mu = arr["user_bias"], arr["item_bias"], arr["global_mean"]
    for name in FACTORS:
        if not np.issubdtype(arr[name].dtype, np.floating):
            raise ModelFileError(f"model file array {name!r} has dtype {arr[name].dtype}, "
                                 f"expected floating point")
    if P.ndim != 2 or Q.ndim != 2 or P.shape[1] != Q.shape[1]:
        raise ModelFileError(f"model file factor shapes are inconsistent: {P.shape}, {Q.shape}")
    if bu.shape != (len(P),) or bi.shape != (len(Q),) or mu.shape != ():
        raise ModelFileError("model file bias shapes do not match the factors")
    for name, want in (("n_users", len(P)), ("n_items", len(Q)), ("factors", P.shape[1])):
        if meta.get(name) is not None and meta[name] != want:
            raise ModelFileError(f"model file meta_json says {name} = {meta[name]} but the "
                                 f"arrays hold {want}")


def check_finite(name: str, a: np.ndarray) -> None:
    """Refuse NaN or infinite values in (a part of) the array ``name``."""
    if not np.all(np.isfinite(a)):
        raise ModelFileError(f"model file array {name!r} contains NaN or infinite values")


def id_count(name: str, held: int, n: int) -> None:
    """Refuse an id block ``name`` of ``held`` ids for ``n`` rows of factors."""
    if held != n:
        raise ModelFileError(f"model file {name!r} holds {held} ids for {n} rows")


def history_of(meta: dict) -> list[EpochStats]:
    """``meta_json``'s training history as :class:`~mfcore.model.EpochStats`."""
    try:
        return [EpochStats.from_dict(h) for h in meta.get("history") or []]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError):
        raise ModelFileError("model file meta_json has a malformed history entry") from None


def without_ids(path, command: str) -> ModelFileError:
    """The error for a model saved without its data's ids, which ``command`` needs."""
    return ModelFileError(f"{path}: the model was saved without its data's user and item ids "
                          f"(save_model without data=), so {command} cannot match users and "
                          "items by id; save it again with its training data")

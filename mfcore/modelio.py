"""Saving and loading fitted factor models as ``.npz`` files, never with pickle.

Layout (format version 2): arrays ``user_factors`` (n_users × k float32), ``item_factors``,
``user_bias``, ``item_bias`` (float32), ``global_mean`` (0-d float64), the raw ids packed by
:mod:`mfcore.idcodec` (``user_ids`` as int64, or ``user_ids_offsets`` + ``user_ids_data`` as
UTF-8 text; absent when saved without data) and ``meta_json`` (0-d unicode array holding a JSON
object: the ``mfcore`` marker, ``format_version``, ``params``, ``history``, ``status``,
``fingerprint``, ``id_kinds``, sizes...). Version 1 files (ids as fixed-width unicode arrays,
4 bytes × the longest id per id) are still read.

Reading trusts nothing in the file: before any array is read, each member's ``.npy`` header is
checked against the member's size (a header declaring a terabyte array in a small file is
refused without allocating), a compressed member may expand at most :data:`MAX_EXPANSION` times,
object dtypes (pickle) are refused; then the ``meta_json`` fields are checked for their types,
the shapes for their consistency, the ids for duplicates and length
(:data:`~mfcore.idcodec.MAX_ID_CHARS`). Every problem is a :class:`ModelFileError` naming the
file and the member or field.
"""
from __future__ import annotations

import json
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ._atomic import atomic_savez
from .errors import ConfigError, DataError, ModelFileError
from .idcodec import MAX_ID_CHARS, pack_ids, unpack_ids
from .load._files import open_checked
from .model import EpochStats, FactorModel, as_factor_model
from .modelio_checks import check_members, check_meta, npy_header
from .seen import write_seen
from ._zipmember import read_stored
from .values import jsonable

FORMAT_MARKER = "mfcore-model"
FORMAT_VERSION = 2
#: Arrays every version has; version 1 also always has ``user_ids`` and ``item_ids``.
ARRAYS = ("user_factors", "item_factors", "user_bias", "item_bias", "global_mean", "meta_json")
ID_NAMES = ("user_ids", "item_ids")


def save_model(model: FactorModel, path, data=None) -> Path:
    """Write a fitted model to ``path`` (an ``.npz`` file), atomically.

    The file is written to a temporary file in the same folder and renamed over ``path``, so a
    reader never sees half a file and a failed save leaves any previous file intact.

    Parameters
    ----------
    model : FactorModel
        Fitted (a trained :class:`mfcore.train.MFModel`, a loaded model, ...). Its
        ``params``, ``history_``, ``status_``, ``data_fingerprint_``, ``best_epoch_``,
        ``diverged_at_`` are kept, and its raw ids when ``data`` is not given.
    path : str or Path
        Written as given (no suffix is added).
    data : Interactions, optional
        The training data: its raw ids and fingerprint are stored, so recommendations can be
        shown by name after loading, and each user's items go to the folder's seen file
        (:mod:`mfcore.seen`, shared by the models of the same data), so recommendations can
        leave them out without the data. Must have the model's numbers of users and items.

    Returns
    -------
    Path

    Raises
    ------
    ConfigError
        ``data`` of another size than the model.
    """
    m = as_factor_model(model).parts()
    path = Path(path)
    fingerprint = getattr(model, "data_fingerprint_", None)
    source = None
    ids = getattr(model, "user_ids", None), getattr(model, "item_ids", None)
    if data is not None:
        if data.n_users != len(m.P) or data.n_items != len(m.Q):
            raise ConfigError(f"data has {data.n_users} users × {data.n_items} items but the "
                              f"model {len(m.P)} × {len(m.Q)}; save with the training data")
        ids = data.user_ids, data.item_ids
        fingerprint = data.fingerprint
        source = data.source
    arrays = {
        "user_factors": np.ascontiguousarray(m.P, dtype=np.float32),
        "item_factors": np.ascontiguousarray(m.Q, dtype=np.float32),
        "user_bias": np.ascontiguousarray(m.bu, dtype=np.float32),
        "item_bias": np.ascontiguousarray(m.bi, dtype=np.float32),
        "global_mean": np.array(m.mu, dtype=np.float64),
    }
    id_kinds = {name: None for name in ID_NAMES}
    if all(x is not None for x in ids):
        for name, x in zip(ID_NAMES, ids):
            id_kinds[name] = pack_ids(x, name, arrays)
    meta = {
        "format": FORMAT_MARKER, "format_version": FORMAT_VERSION,
        "params": jsonable(getattr(model, "params", None) or {}),
        "history": jsonable(list(getattr(model, "history_", None) or [])),
        "status": jsonable(getattr(model, "status_", None)),
        "best_epoch": jsonable(getattr(model, "best_epoch_", None)),
        "diverged_at": jsonable(getattr(model, "diverged_at_", None)),
        "fingerprint": fingerprint, "source": source, "id_kinds": id_kinds,
        "n_users": len(m.P), "n_items": len(m.Q), "factors": int(m.P.shape[1]),
        "biased": m.biased, "saved_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    arrays["meta_json"] = np.array(json.dumps(meta, allow_nan=False))
    atomic_savez(path, arrays)
    if data is not None:
        try:
            write_seen(path, data)
        except OSError as exc:
            warnings.warn(f"could not write the seen-items file beside {path}: {exc}; "
                          "recommend will need --data to leave out a user's items",
                          RuntimeWarning, stacklevel=2)
    return path


def model_arrays(npz) -> dict:
    """Validated arrays of an opened model file (what a model class needs to rebuild itself).

    Parameters
    ----------
    npz : numpy NpzFile (from ``np.load(path, allow_pickle=False)``) or a mapping of arrays

    Returns
    -------
    dict
        ``user_factors_``, ``item_factors_``, ``user_bias_``, ``item_bias_`` (float32 arrays),
        ``global_mean_`` (float), ``user_ids``, ``item_ids`` (arrays or None) and ``meta``
        (the parsed ``meta_json``).

    Raises
    ------
    ModelFileError
        Not an mfcore model, a newer format, missing or inconsistent arrays, ``meta_json``
        fields of the wrong type, pickled (object) arrays, non-finite values, duplicate or
        overlong ids, or a damaged file.
    """
    try:
        names = set(npz.keys())
        meta = _meta(npz, names)
        need = ARRAYS + (ID_NAMES if meta["format_version"] == 1 else ())
        missing = [a for a in need if a not in names]
        if missing:
            raise ModelFileError(f"model file is missing arrays: {', '.join(missing)}")
        arr = {a: np.asarray(npz[a]) for a in ARRAYS if a != "meta_json"}
        _check_factors(arr, meta)
        ids = _ids(npz, meta, len(arr["user_factors"]), len(arr["item_factors"]))
    except ModelFileError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, RuntimeError) as e:
        if "pickle" in str(e).lower() or "object arrays" in str(e).lower():
            raise ModelFileError("model file contains pickled (object) arrays, which are never "
                                 "loaded; it was not written by mfcore") from None
        raise ModelFileError(f"model file is damaged or truncated: {e}") from None
    return {"user_factors_": np.ascontiguousarray(arr["user_factors"], dtype=np.float32),
            "item_factors_": np.ascontiguousarray(arr["item_factors"], dtype=np.float32),
            "user_bias_": np.ascontiguousarray(arr["user_bias"], dtype=np.float32),
            "item_bias_": np.ascontiguousarray(arr["item_bias"], dtype=np.float32),
            "global_mean_": float(arr["global_mean"]), "user_ids": ids["user_ids"],
            "item_ids": ids["item_ids"], "meta": meta}


def _meta(npz, names: set) -> dict:
    """The parsed, type-checked ``meta_json`` of a model file."""
    if "meta_json" not in names:
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


def _check_factors(arr: dict, meta: dict) -> None:
    P, Q = arr["user_factors"], arr["item_factors"]
    bu, bi, mu = arr["user_bias"], arr["item_bias"], arr["global_mean"]
    for name in ("user_factors", "item_factors", "user_bias", "item_bias", "global_mean"):
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
    for name in ("user_factors", "item_factors", "user_bias", "item_bias", "global_mean"):
        if not np.all(np.isfinite(arr[name])):
            raise ModelFileError(f"model file array {name!r} contains NaN or infinite values")


def _ids(npz, meta: dict, n_users: int, n_items: int) -> dict:
    """The raw ids of either format version (None when saved without data), checked."""
    kinds = meta.get("id_kinds") or {}
    out = {}
    for name, n in (("user_ids", n_users), ("item_ids", n_items)):
        if meta["format_version"] == 1:
            a = _ids_v1(np.asarray(npz[name]), kinds.get(name), n, name)
        elif kinds.get(name) is None:
            a = None
        else:
            try:
                a = unpack_ids(npz, kinds[name], name)
            except KeyError as e:
                raise ModelFileError(f"model file is missing the {name} arrays ({e})") from None
            except ValueError as e:
                raise ModelFileError(f"model file {e}") from None
        if a is not None:
            if len(a) != n:
                raise ModelFileError(f"model file {name!r} holds {len(a)} ids for {n} rows")
            _no_duplicates(a, name)
        out[name] = a
    return out


def _ids_v1(a: np.ndarray, kind, n: int, name: str) -> np.ndarray | None:
    """Ids of a version-1 file: a fixed-width unicode array (empty when saved without data)."""
    if a.size == 0:
        return None
    if a.ndim != 1 or len(a) != n or a.dtype.kind != "U":
        raise ModelFileError(f"model file {name!r} must be {n} strings, got {a.dtype} {a.shape}")
    if a.dtype.itemsize // 4 > MAX_ID_CHARS and np.char.str_len(a).max() > MAX_ID_CHARS:
        raise ModelFileError(f"model file {name!r} holds an id longer than {MAX_ID_CHARS:,} "
                             "characters")
    if kind == "int":
        try:
            return a.astype(np.int64)
        except (ValueError, OverflowError):
            raise ModelFileError(f"model file {name!r} should hold 64-bit integers") from None
    return a.astype(object)


def _no_duplicates(ids: np.ndarray, name: str) -> None:
    import pandas as pd

    # dtype=object: pandas would otherwise copy text ids into Arrow strings first (6x slower)
    index = pd.Index(ids, dtype=object if ids.dtype.kind == "O" else None)
    dup = index.duplicated()
    if dup.any():
        k = int(np.flatnonzero(dup)[0])
        first = int(np.flatnonzero(index == ids[k])[0])
        shown = str(ids[k])[:60]
        raise ModelFileError(f"model file {name!r} repeats the id {shown!r} (entries "
                             f"{first + 1} and {k + 1}); every user and item needs its own id")


def load_model(path) -> tuple[FactorModel, dict]:
    """Read a model written by :func:`save_model` (format version 1 or 2).

    Returns
    -------
    (FactorModel, meta dict)
        The model carries the file's params, history, status, fingerprint and raw ids
        (``user_ids``/``item_ids``, None when saved without data). ``meta`` is the file's
        ``meta_json`` plus ``user_ids`` and ``item_ids``.

    Raises
    ------
    ModelFileError
        Missing file, not a regular file (a FIFO...), not an mfcore model, truncated or damaged,
        holding pickled objects, or failing a check of the module docstring.
    """
    path = Path(path)
    try:
        f = open_checked(path, str(path))
    except DataError as e:
        raise ModelFileError(str(e).replace("no such file or folder", "no such model file")) \
            from None
    with f:
        arrays = _read(f, path)
    meta = arrays.pop("meta")
    try:
        model = _model_from(arrays, meta)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: {e}") from None
    # Convenience for callers that re-index data onto the model: the raw ids (None when the model
    # was saved without data). They live in the arrays, not in meta_json.
    meta = {**meta, "user_ids": arrays["user_ids"], "item_ids": arrays["item_ids"]}
    return model, meta


def _read(f, path: Path) -> dict:
    """:func:`model_arrays` of an open model file, once its members passed their checks."""
    head = f.read(8)
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
        what = ("pickled Python objects, which are never loaded" if head[:1] == b"\x80"
                else f"it starts with {head!r}")
        raise ModelFileError(f"{path}: not an mfcore model file (not a numpy .npz archive: "
                             f"{what})")
    if head.startswith(b"\x93NUMPY"):
        f.seek(0)
        try:
            pickled = npy_header(f)[1].hasobject
        except (ValueError, EOFError, ModelFileError):
            pickled = False
        what = "pickled Python objects, which are never loaded" if pickled else "a single array"
        raise ModelFileError(f"{path}: a single numpy array, not an mfcore model file ({what})")
    try:
        f.seek(0)
        with zipfile.ZipFile(f) as zf:
            check_members(zf)
        f.seek(0)
        with np.load(f, allow_pickle=False) as npz:
            return model_arrays(_Members(npz, f))
    except ModelFileError as e:
        raise ModelFileError(f"{path}: {e}") from None
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        if "pickle" in str(e).lower():
            raise ModelFileError(f"{path}: the file holds pickled data, which is never "
                                 f"loaded; it is not an mfcore model") from None
        raise ModelFileError(f"{path}: not an mfcore model file ({e})") from None


class _Members:
    """An opened ``.npz`` whose stored members are read straight into their arrays
    (:func:`mfcore._zipmember.read_stored`: a third of the time for a large model), the others
    as numpy reads them."""

    def __init__(self, npz, f) -> None:
        self.npz, self.f = npz, f

    def keys(self):
        return self.npz.keys()

    def __contains__(self, name) -> bool:
        return name in self.npz

    def __getitem__(self, name: str) -> np.ndarray:
        info = self.npz.zip.getinfo(f"{name}.npy") if f"{name}.npy" in self.npz.zip.namelist() \
            else None
        a = read_stored(self.f, info) if info is not None else None
        return self.npz[name] if a is None else a


def _model_from(arrays: dict, meta: dict) -> FactorModel:
    """The FactorModel of a file's checked arrays and its meta_json."""
    try:
        history = [EpochStats.from_dict(h) for h in meta.get("history") or []]
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError):
        raise ModelFileError("model file meta_json has a malformed history entry") from None
    diverged = meta.get("diverged_at")
    return FactorModel(
        user_factors=arrays["user_factors_"], item_factors=arrays["item_factors_"],
        user_bias=arrays["user_bias_"], item_bias=arrays["item_bias_"],
        global_mean=arrays["global_mean_"], params=meta.get("params") or {}, history=history,
        status=meta.get("status"), best_epoch=meta.get("best_epoch"),
        diverged_at=None if diverged is None else (diverged[0], diverged[1]),
        data_fingerprint=meta.get("fingerprint"), user_ids=arrays["user_ids"],
        item_ids=arrays["item_ids"])

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
file and the member or field. The file is opened and its members' headers checked by
:class:`mfcore.modelfile.ModelFile`, which also serves :mod:`mfcore.userrec` (one user's list,
read from the file in part), so both go through the same checks.
"""
from __future__ import annotations

import json
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np

from ._atomic import atomic_savez
from .errors import ConfigError, ModelFileError
from .idcodec import MAX_ID_CHARS, pack_ids, unpack_ids
from .model import FactorModel, as_factor_model
from .modelfile import (ARRAYS, FACTORS, FORMAT_MARKER, FORMAT_VERSION, ID_NAMES, ModelFile,
                        check_arrays, check_finite, history_of, id_count, missing_arrays,
                        read_meta)
from .modelio_checks import repeated_id
from .seen import write_seen
from .values import jsonable

__all__ = ["ARRAYS", "FORMAT_MARKER", "FORMAT_VERSION", "ID_NAMES", "load_model",
           "model_arrays", "save_model"]


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
        meta = read_meta(npz)
        missing_arrays(npz, meta)
        arr = {a: np.asarray(npz[a]) for a in FACTORS}
        check_arrays(arr, meta)
        for name in FACTORS:
            check_finite(name, arr[name])
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
            id_count(name, len(a), n)
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
        raise repeated_id(name, ids[k], first, k)


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
    with ModelFile(path) as mf, mf.reading():
        arrays = model_arrays(mf)
    meta = arrays.pop("meta")
    try:
        model = _model_from(arrays, meta)
    except ModelFileError as e:
        raise ModelFileError(f"{mf.path}: {e}") from None
    # Convenience for callers that re-index data onto the model: the raw ids (None when the model
    # was saved without data). They live in the arrays, not in meta_json.
    meta = {**meta, "user_ids": arrays["user_ids"], "item_ids": arrays["item_ids"]}
    return model, meta


def _model_from(arrays: dict, meta: dict) -> FactorModel:
    """The FactorModel of a file's checked arrays and its meta_json."""
    history = history_of(meta)
    diverged = meta.get("diverged_at")
    return FactorModel(
        user_factors=arrays["user_factors_"], item_factors=arrays["item_factors_"],
        user_bias=arrays["user_bias_"], item_bias=arrays["item_bias_"],
        global_mean=arrays["global_mean_"], params=meta.get("params") or {}, history=history,
        status=meta.get("status"), best_epoch=meta.get("best_epoch"),
        diverged_at=None if diverged is None else (diverged[0], diverged[1]),
        data_fingerprint=meta.get("fingerprint"), user_ids=arrays["user_ids"],
        item_ids=arrays["item_ids"])

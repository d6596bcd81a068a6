"""Saving and loading fitted factor models as ``.npz`` files, never with pickle.

Layout (format version 1): arrays ``user_factors`` (n_users × k float32), ``item_factors``,
``user_bias``, ``item_bias`` (float32), ``global_mean`` (0-d float64), ``user_ids`` and
``item_ids`` (unicode arrays; empty when saved without data) and ``meta_json`` (0-d unicode
array holding a JSON object: the ``mfcore`` marker, ``format_version``, ``params``, ``history``,
``status``, ``fingerprint``, the id dtypes, sizes...). Files are read with
``allow_pickle=False``, so a file asking for pickled objects is refused.
"""
from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path

import numpy as np

from ._atomic import atomic_savez
from .errors import ConfigError, ModelFileError
from .model import EpochStats, FactorModel, as_factor_model
from .values import jsonable

FORMAT_MARKER = "mfcore-model"
FORMAT_VERSION = 1
ARRAYS = ("user_factors", "item_factors", "user_bias", "item_bias", "global_mean",
          "user_ids", "item_ids", "meta_json")


def _ids(ids) -> tuple[np.ndarray, str]:
    arr = np.asarray(ids)
    kind = "int" if np.issubdtype(arr.dtype, np.integer) else "str"
    return arr.astype(str), kind


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
        shown by name after loading. Must have the model's numbers of users and items.

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
    user_ids = item_ids = np.zeros(0, dtype="<U1")
    id_kinds = {"user_ids": None, "item_ids": None}
    fingerprint = getattr(model, "data_fingerprint_", None)
    source = None
    own_ids = getattr(model, "user_ids", None), getattr(model, "item_ids", None)
    if data is None and all(x is not None for x in own_ids):
        user_ids, id_kinds["user_ids"] = _ids(own_ids[0])
        item_ids, id_kinds["item_ids"] = _ids(own_ids[1])
    if data is not None:
        if data.n_users != len(m.P) or data.n_items != len(m.Q):
            raise ConfigError(f"data has {data.n_users} users × {data.n_items} items but the "
                              f"model {len(m.P)} × {len(m.Q)}; save with the training data")
        user_ids, id_kinds["user_ids"] = _ids(data.user_ids)
        item_ids, id_kinds["item_ids"] = _ids(data.item_ids)
        fingerprint = data.fingerprint
        source = data.source
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
    arrays = {
        "user_factors": np.ascontiguousarray(m.P, dtype=np.float32),
        "item_factors": np.ascontiguousarray(m.Q, dtype=np.float32),
        "user_bias": np.ascontiguousarray(m.bu, dtype=np.float32),
        "item_bias": np.ascontiguousarray(m.bi, dtype=np.float32),
        "global_mean": np.array(m.mu, dtype=np.float64),
        "user_ids": user_ids, "item_ids": item_ids,
        "meta_json": np.array(json.dumps(meta, allow_nan=False)),
    }
    atomic_savez(path, arrays)
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
        Not an mfcore model, a newer format, missing or inconsistent arrays, pickled (object)
        arrays, non-finite values, or a damaged file.
    """
    try:
        names = set(npz.keys())
        if "meta_json" not in names:
            raise ModelFileError("not an mfcore model file: it has no 'meta_json' entry")
        try:
            meta = json.loads(str(np.asarray(npz["meta_json"])[()]))
        except json.JSONDecodeError as e:
            raise ModelFileError(f"not an mfcore model file: meta_json is not JSON ({e})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT_MARKER:
            raise ModelFileError("not an mfcore model file: the format marker is missing")
        version = meta.get("format_version")
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise ModelFileError(f"model file format version {version!r} is newer than this "
                                 f"mfcore reads ({FORMAT_VERSION}); upgrade mfcore")
        missing = [a for a in ARRAYS if a not in names]
        if missing:
            raise ModelFileError(f"model file is missing arrays: {', '.join(missing)}")
        arr = {a: np.asarray(npz[a]) for a in ARRAYS if a != "meta_json"}
    except ModelFileError:
        raise
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, RuntimeError) as e:
        if "pickle" in str(e).lower() or "object arrays" in str(e).lower():
            raise ModelFileError("model file contains pickled (object) arrays, which are never "
                                 "loaded; it was not written by mfcore") from None
        raise ModelFileError(f"model file is damaged or truncated: {e}") from None

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
    for name in ("user_factors", "item_factors", "user_bias", "item_bias", "global_mean"):
        if not np.all(np.isfinite(arr[name])):
            raise ModelFileError(f"model file array {name!r} contains NaN or infinite values")
    kinds = meta.get("id_kinds") or {}
    ids = {}
    for name, n in (("user_ids", len(P)), ("item_ids", len(Q))):
        a = arr[name]
        if a.size == 0:
            ids[name] = None
            continue
        if a.ndim != 1 or len(a) != n or a.dtype.kind not in "U":
            raise ModelFileError(f"model file {name!r} must be {n} strings, got {a.dtype} "
                                 f"{a.shape}")
        if kinds.get(name) == "int":
            try:
                a = a.astype(np.int64)
            except ValueError:
                raise ModelFileError(f"model file {name!r} should hold integers") from None
        else:
            a = a.astype(object)
        ids[name] = a
    return {"user_factors_": np.ascontiguousarray(P, dtype=np.float32),
            "item_factors_": np.ascontiguousarray(Q, dtype=np.float32),
            "user_bias_": np.ascontiguousarray(bu, dtype=np.float32),
            "item_bias_": np.ascontiguousarray(bi, dtype=np.float32),
            "global_mean_": float(mu), "user_ids": ids["user_ids"],
            "item_ids": ids["item_ids"], "meta": meta}


def load_model(path) -> tuple[FactorModel, dict]:
    """Read a model written by :func:`save_model`.

    Returns
    -------
    (FactorModel, meta dict)
        The model carries the file's params, history, status, fingerprint and raw ids
        (``user_ids``/``item_ids``, None when saved without data). ``meta`` is the file's
        ``meta_json`` plus ``user_ids`` and ``item_ids``.

    Raises
    ------
    ModelFileError
        Missing file, not an mfcore model, truncated or damaged, or holding pickled objects.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        with open(path, "rb") as f:
            head = f.read(8)
    except OSError as e:
        raise ModelFileError(f"{path}: cannot be read ({e.strerror or e})") from None
    if not head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
        what = ("pickled Python objects, which are never loaded" if head[:1] == b"\x80"
                else f"it starts with {head!r}")
        raise ModelFileError(f"{path}: not an mfcore model file (not a numpy .npz archive: "
                             f"{what})")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        if "pickle" in str(e).lower():
            raise ModelFileError(f"{path}: the file holds pickled data, which is never "
                                 f"loaded; it is not an mfcore model") from None
        raise ModelFileError(f"{path}: not an mfcore model file ({e})") from None
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ModelFileError(f"{path}: a single numpy array, not an mfcore model file")
    try:
        with loaded as npz:
            arrays = model_arrays(npz)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: {e}") from None
    meta = arrays.pop("meta")
    try:
        model = _model_from(arrays, meta)
    except ModelFileError as e:
        raise ModelFileError(f"{path}: {e}") from None
    # Convenience for callers that re-index data onto the model: the raw ids (None when the model
    # was saved without data). They live in the arrays, not in meta_json.
    meta = {**meta, "user_ids": arrays["user_ids"], "item_ids": arrays["item_ids"]}
    return model, meta


def _model_from(arrays: dict, meta: dict) -> FactorModel:
    """The FactorModel of a file's checked arrays and its meta_json."""
    params = meta.get("params") or {}
    history = meta.get("history") or []
    diverged = meta.get("diverged_at")
    if not isinstance(params, dict) or not isinstance(history, list):
        raise ModelFileError("model file meta_json has malformed params or history")
    try:
        history = [EpochStats.from_dict(h) for h in history]
        best_epoch = None if meta.get("best_epoch") is None else int(meta["best_epoch"])
        diverged = None if diverged is None else (int(diverged[0]), int(diverged[1]))
    except (KeyError, TypeError, ValueError, IndexError):
        raise ModelFileError("model file meta_json has a malformed history entry") from None
    return FactorModel(
        user_factors=arrays["user_factors_"], item_factors=arrays["item_factors_"],
        user_bias=arrays["user_bias_"], item_bias=arrays["item_bias_"],
        global_mean=arrays["global_mean_"], params=params, history=history,
        status=meta.get("status"), best_epoch=best_epoch, diverged_at=diverged,
        data_fingerprint=meta.get("fingerprint"), user_ids=arrays["user_ids"],
        item_ids=arrays["item_ids"])

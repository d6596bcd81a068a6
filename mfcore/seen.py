"""What each user already has, kept beside saved models, so one user's recommendations can leave
out their items without reading the data file again.

A **seen file** ``seen-<fingerprint>.npz`` sits in the model file's folder. It is named by the
fingerprint of the data the model was saved with (:func:`mfcore.modelio.save_model` with
``data=``; the run history and the command line pass the run's rows as loaded and filtered,
training and validation alike — what ``recommend --data`` on that file leaves out), so every
model of a folder trained on the same data (a sweep's trials) shares one file, written once.

Layout: an uncompressed ``.npz`` with ``indptr`` (int64, n_users + 1), ``items`` (int32: user
``u``'s items are ``items[indptr[u]:indptr[u + 1]]``, the model's item indices) and ``meta``
(a JSON string: marker, fingerprint, n_users, n_items). :func:`seen_items` maps the two arrays
from the file (``np.memmap`` at each member's offset in the archive: numpy's
``np.load(mmap_mode='r')`` maps ``.npy`` files only), so a lookup reads the zip directory, the
8-byte ``indptr`` pair and one user's slice — a few pages of the 200 MB file of the full MSD.
"""
from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np

from ._atomic import atomic_savez
from .errors import ModelFileError
from ._zipmember import map_stored
from .rowindex import index_offsets, user_spans

MARKER = "mfcore-seen"
VERSION = 1
_FINGERPRINT = re.compile(r"[0-9a-f]{8,64}")


def seen_path(model_path, fingerprint: str | None) -> Path | None:
    """The seen file of a model saved at ``model_path`` from data of ``fingerprint`` (None
    when the fingerprint is missing or not one mfcore writes)."""
    if not isinstance(fingerprint, str) or not _FINGERPRINT.fullmatch(fingerprint):
        return None
    return Path(model_path).parent / f"seen-{fingerprint}.npz"


def unused_seen_files(folder) -> list[Path]:
    """The seen files in ``folder`` that no model file there was saved from (all the models of
    their data are gone); none when a model file cannot be read (it might need one)."""
    folder = Path(folder)
    seen = {p.name[len("seen-"):-len(".npz")]: p for p in folder.glob("seen-*.npz")}
    if not seen:
        return []
    used = set()
    for p in folder.glob("*.npz"):
        if p.name.startswith("seen-"):
            continue
        try:
            with np.load(p, allow_pickle=False) as z:
                used.add(json.loads(str(z["meta_json"][()])).get("fingerprint"))
        except Exception:  # noqa: BLE001 - an unreadable model keeps every seen file
            return []
    return sorted(path for fp, path in seen.items() if fp not in used)


def write_seen(model_path, data) -> Path:
    """Write the seen file of ``data`` (an Interactions) beside ``model_path``, unless there.

    Returns
    -------
    Path
    """
    path = seen_path(model_path, data.fingerprint)
    if path.exists():
        return path
    meta = {"format": MARKER, "version": VERSION, "fingerprint": data.fingerprint,
            "n_users": int(data.n_users), "n_items": int(data.n_items)}
    indptr = index_offsets(data.users, data.n_users)

    def write(f) -> None:
        # The layout np.savez writes (stored members, zip64 headers), with the items streamed
        # a block of users at a time: no array of them all (48M rows: 0.18 GiB).
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            with zf.open("indptr.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, indptr, allow_pickle=False)
            with zf.open("items.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array_header_1_0(
                    member, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.int32)),
                             "fortran_order": False, "shape": (int(indptr[-1]),)})
                for block in _items_by_user(data, indptr):
                    member.write(block.tobytes())
            with zf.open("meta.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.array(json.dumps(meta)),
                                          allow_pickle=False)

    atomic_savez(path, write)
    return path


#: Users per block when the items are written.
USERS_PER_BLOCK = 1 << 16


def _items_by_user(data, indptr: np.ndarray):
    """The items of ``data`` grouped by user (each user's rows in the order they are held: one
    sorted run, or a split's runs side by side), a block of users at a time."""
    runs = data.runs or (0, len(data))
    for lo in range(0, data.n_users, USERS_PER_BLOCK):
        hi = min(lo + USERS_PER_BLOCK, data.n_users)
        spans = user_spans(data.users, runs, lo, hi)
        items = np.concatenate([data.items[a:b] for a, b in spans]).astype(np.int32, copy=False)
        if len(spans) > 1:  # runs side by side: group the block's rows by user
            from .rowgroup import grouped
            users = np.concatenate([data.users[a:b] for a, b in spans]) - np.int32(lo)
            items = grouped(users, indptr[lo:hi + 1] - indptr[lo], items)[0]
        yield items


def seen_items(model_path, fingerprint: str | None, n_users: int, n_items: int,
               user: int) -> tuple[np.ndarray, Path] | None:
    """The items ``user`` has in the seen file of the model at ``model_path``.

    Parameters
    ----------
    model_path : str or Path
        The model file.
    fingerprint : str or None
        The fingerprint of the data the model was saved with (its ``data_fingerprint_``).
    n_users, n_items : int
        The model's numbers of users and items.
    user : int
        Dense user index of the model.

    Returns
    -------
    (item indices int32, seen file) or None
        None when the model has no seen file (saved without data, or the file is gone).

    Raises
    ------
    ModelFileError
        The seen file is damaged, or holds other data than the model's; the message names it.
    """
    path = seen_path(model_path, fingerprint)
    if path is None or not path.is_file():
        return None
    try:
        with open(path, "rb") as f, zipfile.ZipFile(f) as zf:
            info = json.loads(str(np.load(zf.open("meta.npy"), allow_pickle=False)[()]))
            indptr = _mapped(f, zf, path, "indptr", np.int64)
            items = _mapped(f, zf, path, "items", np.int32)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise ModelFileError(f"{path}: damaged seen-items file ({e}); delete it, or pass --data "
                             "to leave out the user's items") from None
    want = {"format": MARKER, "fingerprint": fingerprint, "n_users": int(n_users),
            "n_items": int(n_items)}
    if not isinstance(info, dict) or any(info.get(k) != v for k, v in want.items()):
        raise ModelFileError(f"{path}: this seen-items file does not belong to the model's data "
                             f"(it says {info!r:.200}); delete it, or pass --data")
    if len(indptr) != n_users + 1 or indptr[0] != 0 or indptr[-1] != len(items) \
            or np.any(np.diff(indptr) < 0):
        raise ModelFileError(f"{path}: damaged seen-items file (its indptr is not {n_users + 1} "
                             f"non-decreasing offsets from 0 to {len(items)}); delete it, or "
                             "pass --data")
    mine = np.array(items[indptr[user]:indptr[user + 1]])
    if len(mine) and (mine.min() < 0 or mine.max() >= n_items):
        raise ModelFileError(f"{path}: damaged seen-items file (user {user}'s items fall outside "
                             f"0..{n_items - 1}); delete it, or pass --data")
    return mine, path


def _mapped(f, zf: zipfile.ZipFile, path: Path, name: str, dtype) -> np.ndarray:
    """Member ``name``'s 1-D array mapped read-only from the archive (stored, not deflated)."""
    a = map_stored(f, zf.getinfo(f"{name}.npy"), path)
    if a is None:
        raise ValueError(f"member {name!r} is not a plain stored array")
    if a.dtype != np.dtype(dtype) or a.ndim != 1:
        raise ValueError(f"member {name!r} is {a.dtype} {a.shape}, expected a 1-D "
                         f"{np.dtype(dtype)}")
    return a

"""One user's recommendations straight from a model file: ``recommend MODEL --user U``.

:func:`recommend_from_file` reads what one list needs and nothing else — no pandas, no numba,
no million decoded ids. Through :class:`~mfcore.modelfile.ModelFile` (the archive and every
member's ``.npy`` header checked, as :func:`~mfcore.modelio.load_model` does), it

- parses ``meta_json`` with every check ``load_model`` applies (types, version, history);
- maps the factor members and checks their dtypes and shapes against each other and the meta;
- reads the item factors and biases whole (they score every item) and refuses a NaN or infinite
  value in them, and in the user's row and bias;
- checks the id blocks' offsets (start at 0, never decrease, end at the data), finds the raw id
  among the UTF-8 bytes (:func:`mfcore.idcodec.find_text`) and refuses it when it is there twice;
- leaves out the user's items from the seen file (:func:`mfcore.seen.seen_items`);
- scores ``item_factors @ p_u + item_bias`` as :meth:`FactorModel.item_scores` does, selects
  with :func:`mfcore.topn.top_n`, and decodes the chosen items' ids only (valid UTF-8, no
  longer than :data:`~mfcore.idcodec.MAX_ID_CHARS`).

What ``load_model`` checks and this does not read: the other users' rows and biases, the other
ids (their UTF-8, lengths and duplicates), the CRC of the mapped members. A version-1 file or
one whose ids have missing values is left to ``load_model`` (the function returns None).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import MFError, ModelFileError
from .idcodec import check_block, check_ints, find_int, find_text, text_at
from .modelfile import (FACTORS, ID_NAMES, ModelFile, check_arrays, check_finite, history_of,
                        id_count, missing_arrays, read_meta, without_ids)
from .modelio_checks import repeated_id
from .seen import seen_items
from .topn import top_n

__all__ = ["UserRecommendations", "recommend_from_file"]


@dataclass(frozen=True)
class UserRecommendations:
    """One user's list, as :func:`recommend_from_file` read it.

    Attributes
    ----------
    user : int
        The user's dense index.
    items : ndarray of int64
        Recommended item indices, best first.
    scores : ndarray of float32
        Their ranking scores b_i + p_u·q_i.
    item_ids : list of str
        Their raw ids, as text.
    seen : ndarray of int32 or None
        The user's items left out (None: the model has no seen file).
    seen_path : Path or None
        The seen file they came from.
    """

    user: int
    items: np.ndarray
    scores: np.ndarray
    item_ids: list
    seen: np.ndarray | None
    seen_path: Path | None


def recommend_from_file(path, user: str, n: int = 10) -> UserRecommendations | None:
    """The ``n`` best items for the user whose raw id is ``user``, from the model file ``path``,
    leaving out the items in its seen file (module docstring: what is read and checked).

    Parameters
    ----------
    path : str or Path
        A model file written by :func:`mfcore.modelio.save_model` with its data's ids.
    user : str
        The raw user id, as text (an integer id as its decimal digits).
    n : int
        At least 1; clamped to the candidates.

    Returns
    -------
    UserRecommendations, or None for a file this path does not read (version 1, ids with
    missing values): read it with :func:`mfcore.modelio.load_model`.

    Raises
    ------
    ModelFileError
        The model file or its seen file fails a check; the message starts with the file.
    MFError
        ``user`` is not one of the model's users.
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise MFError(f"n must be an integer >= 1, got {n!r}")
    # mf.reading() puts the model file's name in front of what reading it raises; the seen
    # file's errors name the seen file, so it is read outside.
    with ModelFile(path) as mf:
        with mf.reading():
            checked = _arrays(mf)
        if checked is None:
            return None
        meta, arr = checked
        kinds = meta.get("id_kinds") or {}
        if any(kinds.get(name) is None for name in ID_NAMES):
            raise without_ids(mf.path, "recommend")
        with mf.reading():
            Q, bi = _aligned(arr["item_factors"]), _aligned(arr["item_bias"])
            for name, a in (("item_factors", Q), ("item_bias", bi),
                            ("global_mean", arr["global_mean"])):
                check_finite(name, a)
            users = _ids(mf, "user_ids", kinds["user_ids"], len(arr["user_factors"]))
            items = _ids(mf, "item_ids", kinds["item_ids"], len(Q))
            u = _lookup(users, user)
            p = np.array(arr["user_factors"][u], dtype=np.float32)
            check_finite("user_factors", p)
            check_finite("user_bias", arr["user_bias"][u])
        seen = seen_items(mf.path, meta.get("fingerprint"), len(arr["user_factors"]), len(Q), u)
        with mf.reading():
            idx, scores = top_n(Q @ p + bi, int(n), None if seen is None else seen[0])
            ids = [items.text(i) for i in idx.tolist()]
    return UserRecommendations(u, idx, scores, ids, *(seen or (None, None)))


def _arrays(mf: ModelFile) -> tuple[dict, dict] | None:
    """``(meta, factor arrays mapped)``, checked for everything but their values; None for a file
    :func:`recommend_from_file` leaves to ``load_model``."""
    meta = read_meta(mf)
    if meta["format_version"] == 1 or any(f"{k}_valid" in mf for k in ID_NAMES):
        return None
    missing_arrays(mf, meta)
    history_of(meta)
    arr = {name: mf.mapped(name) for name in FACTORS}
    check_arrays(arr, meta)
    return meta, arr


class _Ids:
    """One id block of the file, checked for its structure, read one id at a time."""

    def __init__(self, name: str, kind: str, ints=None, offsets=None, data=None) -> None:
        self.name, self.kind, self.ints, self.offsets, self.data = name, kind, ints, offsets, data

    def find(self, raw: str) -> np.ndarray:
        if self.kind == "int":
            return find_int(self.ints, raw)
        return find_text(self.offsets, self.data, raw)

    def text(self, i: int) -> str:
        if self.kind == "int":
            return str(int(self.ints[i]))
        try:
            return text_at(self.offsets, self.data, i, self.name)
        except ValueError as e:
            raise ModelFileError(f"model file {e}") from None


def _ids(mf: ModelFile, name: str, kind: str, n: int) -> _Ids:
    try:
        if kind == "int":
            ids = mf.mapped(name)
            check_ints(ids, name)
            block = _Ids(name, kind, ints=ids)
        else:
            offsets, data = mf.mapped(f"{name}_offsets"), mf.mapped(f"{name}_data")
            check_block(offsets, data, name)
            block = _Ids(name, kind, offsets=offsets, data=data)
    except KeyError as e:
        raise ModelFileError(f"model file is missing the {name} arrays ({e})") from None
    except ValueError as e:
        raise ModelFileError(f"model file {e}") from None
    id_count(name, len(block.ints) if kind == "int" else len(block.offsets) - 1, n)
    return block


def _lookup(users: _Ids, raw: str) -> int:
    hits = users.find(raw)
    if len(hits) > 1:
        raise repeated_id("user_ids", raw, int(hits[0]), int(hits[1]))
    if not len(hits):
        raise MFError(f"unknown user id {raw!r}")
    users.text(int(hits[0]))  # its length, as load_model checks every id's
    return int(hits[0])


def _aligned(a: np.ndarray) -> np.ndarray:
    """``a`` as an aligned float32 array, the mapping itself when it is one (a member may start
    at any byte of the file, and an unaligned operand would leave BLAS for numpy's own loop)."""
    return np.asarray(np.require(a, dtype=np.float32, requirements=["C", "A"]))

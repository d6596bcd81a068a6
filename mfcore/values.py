"""Plain values shared by the whole engine: finite numbers, JSON-ready objects, text for people.

One rule everywhere: a number that is missing, not a number, NaN or infinite is *absent*
(``None`` in Python and ``null`` in JSON, "—" in text), never ``nan``/``inf``/``"inf"``.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import math
from pathlib import PurePath
from typing import Any, Mapping

import numpy as np

__all__ = ["MISSING", "finite", "fmt", "human_bytes", "jsonable", "map_float32",
           "whole_numbers"]

#: How an absent value is written for people.
MISSING = "—"


def finite(x: Any, kind: type = float) -> float | int | None:
    """``x`` as a finite ``kind`` (``float`` or ``int``); None when it is not one.

    Parameters
    ----------
    x : any
        A Python or numpy number, a numeric string, or anything else.
    kind : {float, int}
        ``int`` truncates towards zero, as ``int()`` does.

    Returns
    -------
    float, int or None
        None for None, NaN, ±inf, pandas' NA and anything ``float()`` refuses.
    """
    if x is None:
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(v):
        return None
    return int(v) if kind is int else v


def jsonable(o: Any) -> Any:
    """``o`` as plain JSON types (dict, list, str, int, float, bool, None).

    Numpy scalars and arrays become Python numbers and lists, dataclasses and objects with a
    ``to_dict()`` become dicts, tuples and sets lists, paths and anything else their ``str``.
    Non-finite floats become None, so ``json.dumps(jsonable(o), allow_nan=False)`` never fails.
    """
    if isinstance(o, dict):
        return {str(k): jsonable(v) for k, v in o.items()}
    if isinstance(o, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in o]
    if isinstance(o, (bool, np.bool_)):
        return bool(o)
    if isinstance(o, (int, np.integer)):
        return int(o)
    if isinstance(o, (float, np.floating)):
        return finite(o)
    if o is None or isinstance(o, str):
        return o
    if isinstance(o, np.ndarray):
        return jsonable(o.tolist())
    if isinstance(o, np.generic):
        return jsonable(o.item())
    if dataclasses.is_dataclass(o) and not isinstance(o, type):
        return jsonable(dataclasses.asdict(o))
    if hasattr(o, "to_dict") and not isinstance(o, (PurePath, type)):
        return jsonable(o.to_dict())
    return str(o)


def fmt(v: Any, digits: int | None = 4) -> str:
    """A value as short text for a page, a report or a terminal.

    Parameters
    ----------
    v : any
        None, NaN and ±inf give :data:`MISSING`; booleans "yes"/"no"; integers have thousands
        separators; timestamps are ``YYYY-mm-dd HH:MM:SS``; lists and mappings are joined.
    digits : int or None
        Floats get exactly this many decimals ("0.9100": metrics line up in a column). None: a
        compact form for tables (at most 4 decimals, no trailing zeros; 4 significant digits
        for very small and very large numbers).
    """
    if v is None:
        return MISSING
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        f = finite(v)
        if f is None:
            return MISSING
        if digits is not None:
            return f"{f:.{digits}f}"
        if f != 0 and (abs(f) < 1e-3 or abs(f) >= 1e6):
            return f"{f:.4g}"
        return f"{f:.4f}".rstrip("0").rstrip(".") if abs(f) < 100 else f"{f:,.2f}"
    if isinstance(v, _dt.datetime):  # pandas.Timestamp too
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, (list, tuple)):
        return ", ".join(fmt(x, digits) for x in v)
    if isinstance(v, Mapping):
        return ", ".join(f"{k}={fmt(x, digits)}" for k, x in v.items())
    return str(v)


def map_float32(fn, x: np.ndarray, chunk: int = 1 << 20, *,
                out: np.ndarray | None = None) -> np.ndarray:
    """``fn(x)`` as float32, applied a slice of ``chunk`` values at a time.

    Each slice may be computed in float64 and rounded once, as ``fn(x).astype(float32)``
    would, but the float64 temporary is one slice, not the whole column (48M rows: 0.36 GiB
    off the peak of a transform). ``out`` (float32, as long as ``x``; may be ``x`` itself)
    receives the result instead of a new array.
    """
    if out is None:
        out = np.empty(len(x), dtype=np.float32)
    for a in range(0, len(x), chunk):
        out[a:a + chunk] = fn(x[a:a + chunk])
    return out


def whole_numbers(x: np.ndarray, chunk: int = 1 << 20) -> bool:
    """True when every value of ``x`` is a whole number; a slice at a time, so no rounded copy
    of a whole column (48M rows: 0.2 GiB) is made."""
    return all(np.all(x[a:a + chunk] == np.round(x[a:a + chunk])) for a in range(0, len(x), chunk))


def human_bytes(n: float, base: int = 1000) -> str:
    """``1500`` -> ``'1.5 KB'``: bytes in B, KB, MB, GB or TB of 1000 (as file managers show
    files), or with ``base=1024`` in KiB, MiB, GiB or TiB (memory: ``1536`` -> ``'1.5 KiB'``)."""
    units = ("B", "KB", "MB", "GB", "TB") if base == 1000 else ("B", "KiB", "MiB", "GiB", "TiB")
    for unit in units:
        if abs(n) < base or unit == units[-1]:
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= base
    raise AssertionError("unreachable")


"""Search spaces of a sweep: the trials of a grid or of a seeded random search.

A trial is a dict of the swept hyperparameters (:data:`SWEPT`). :data:`GRID_DEFAULTS` and
:data:`RANDOM_DEFAULTS` are the one set of defaults the command line and the Tune page show;
:func:`parse_values` reads their text form (``a,b,c`` values or a ``lo:hi`` range).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from ..errors import ConfigError

__all__ = ["SWEPT", "INT_PARAMS", "MAX_TRIALS", "GRID_DEFAULTS", "RANDOM_DEFAULTS", "Range",
           "grid_trials", "random_trials", "parse_values", "default_text"]

#: The hyperparameters a sweep varies.
SWEPT = ("factors", "lr", "reg", "epochs")
#: Refuse grids larger than this (a typo like --factors 1,2,...,1000 would run for hours).
MAX_TRIALS = 2000
INT_PARAMS = ("factors", "epochs")
#: A grid's default values: each spans its useful range with a factor of about 4 between
#: neighbours (3 × 2 × 2 × 1 = 12 trials), the range the random search draws from.
GRID_DEFAULTS: dict = {"factors": (4, 16, 64), "lr": (0.005, 0.02), "reg": (0.02, 0.1),
                       "epochs": (20,)}
#: A random search's default (low, high) ranges; equal ends fix the value.
RANDOM_DEFAULTS: dict = {"factors": (4, 64), "lr": (0.001, 0.05), "reg": (0.001, 0.2),
                         "epochs": (20, 20)}
_LOG_DEFAULT = {"factors": True, "lr": True, "reg": True, "epochs": False}


@dataclass(frozen=True)
class Range:
    """A range to draw from in a random search.

    ``log=True`` draws log-uniformly (needs ``low > 0``); integer parameters are rounded.
    """

    low: float
    high: float
    log: bool = True

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high)) or self.low > self.high:
            raise ConfigError(f"a range needs finite low <= high, got {self.low}:{self.high}")
        if self.log and self.low <= 0:
            raise ConfigError(f"a log-uniform range needs low > 0, got {self.low}:{self.high}")

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.log:
            return np.exp(rng.uniform(math.log(self.low), math.log(self.high), n))
        return rng.uniform(self.low, self.high, n)


def _as_list(name: str, v) -> list:
    if isinstance(v, Range):
        raise ConfigError(f"{name}: a grid takes values, not a range (ranges are for random "
                          f"search)")
    if isinstance(v, (str, bytes)) or not isinstance(v, Iterable):
        v = [v]
    out = list(v)
    if not out:
        raise ConfigError(f"{name}: give at least one value")
    return out


def _cast(name: str, v):
    if name in INT_PARAMS:
        if isinstance(v, float) and not v.is_integer():
            raise ConfigError(f"{name} must be an integer, got {v!r}")
        return int(v)
    return float(v)


def grid_trials(*, factors=GRID_DEFAULTS["factors"], lr=GRID_DEFAULTS["lr"],
                reg=GRID_DEFAULTS["reg"], epochs=GRID_DEFAULTS["epochs"]) -> list[dict]:
    """Every combination of the given values (Cartesian product), factors varying slowest.

    Each argument is a value or a sequence of values (repeats are dropped). Returns a list of
    ``{'factors', 'lr', 'reg', 'epochs'}`` dicts.
    """
    axes = {n: [_cast(n, x) for x in dict.fromkeys(_as_list(n, v))]
            for n, v in (("factors", factors), ("lr", lr), ("reg", reg), ("epochs", epochs))}
    n = math.prod(len(a) for a in axes.values())
    if n > MAX_TRIALS:
        raise ConfigError(f"the grid has {n:,} combinations; at most {MAX_TRIALS:,} are allowed "
                          f"(use random search instead)")
    return [dict(zip(SWEPT, combo)) for combo in itertools.product(*axes.values())]


def random_trials(n: int, *, factors=RANDOM_DEFAULTS["factors"], lr=RANDOM_DEFAULTS["lr"],
                  reg=RANDOM_DEFAULTS["reg"], epochs=RANDOM_DEFAULTS["epochs"],
                  seed: int = 0) -> list[dict]:
    """``n`` configurations drawn independently with a seeded generator.

    Each argument is a :class:`Range` (a ``(low, high)`` tuple is read as one: log-uniform for
    factors, lr and reg, uniform for epochs), a list of choices (drawn uniformly), or a single
    value (fixed). Integer parameters are rounded to the nearest integer. The same ``seed``
    always gives the same trials.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ConfigError(f"the number of random trials must be an integer >= 1, got {n!r}")
    if n > MAX_TRIALS:
        raise ConfigError(f"at most {MAX_TRIALS:,} trials are allowed, got {n:,}")
    rng = np.random.default_rng(seed)
    cols = {}
    for name, spec in (("factors", factors), ("lr", lr), ("reg", reg), ("epochs", epochs)):
        if isinstance(spec, tuple) and len(spec) == 2:
            spec = Range(float(spec[0]), float(spec[1]), log=_LOG_DEFAULT[name])
        if isinstance(spec, Range):
            vals = spec.draw(rng, n)
            if name in INT_PARAMS:
                vals = np.maximum(np.rint(vals), 1 if name == "factors" else 0)
        elif isinstance(spec, (list, np.ndarray)):
            choices = _as_list(name, spec)
            vals = [choices[i] for i in rng.integers(0, len(choices), n)]
        else:
            vals = [spec] * n
        cols[name] = [_cast(name, v) for v in vals]
    return [{k: cols[k][i] for k in SWEPT} for i in range(n)]


def default_text(name: str, *, random: bool) -> str:
    """The default of ``name`` as :func:`parse_values` reads it: "4, 16, 64" or "4:64"."""
    if random:
        lo, hi = RANDOM_DEFAULTS[name]
        return f"{lo:g}" if lo == hi else f"{lo:g}:{hi:g}"
    return ", ".join(f"{v:g}" for v in GRID_DEFAULTS[name])


def parse_values(name: str, text: str, *, random: bool):
    """A search-space entry: ``a,b,c`` values (choices), a ``lo:hi`` range, or one value.

    Returns a list of values for a grid; for a random search a :class:`Range`, a list of
    choices or one value.

    Raises
    ------
    ConfigError
        A value that is not a (finite) number, or a range in a grid; the message starts with
        ``--name``.
    """
    text = str(text).strip()
    conv = int if name in INT_PARAMS else float

    def num(s: str):
        try:
            v = conv(s.strip())
        except ValueError:
            kind = "an integer" if conv is int else "a number"
            raise ConfigError(f"--{name}: expected {kind}, got {s.strip()!r}") from None
        if conv is float and not math.isfinite(v):
            raise ConfigError(f"--{name}: expected a finite number, got {s.strip()!r}")
        return v

    if ":" in text:
        if not random:
            raise ConfigError(f"--{name} {text}: ranges (LO:HI) are for --random; a grid takes "
                              f"comma-separated values")
        lo, _, hi = text.partition(":")
        return Range(float(num(lo)), float(num(hi)), log=_LOG_DEFAULT[name])
    values = [num(p) for p in text.split(",") if p.strip()]
    if not values:
        raise ConfigError(f"--{name}: no values given")
    if random:
        return values if len(values) > 1 else values[0]
    return values

"""The search space of a study: every hyperparameter of the chosen solver, searched or fixed.

Each hyperparameter a solver reads (:data:`SEARCHABLE`) is, in a :class:`SearchSpace`, one of

- a **range** ``lo:hi`` — log-uniform for rates, regularisation, α, the latent size and the init
  spread, uniform for epochs, negatives per positive and CG steps; integers stay integers;
- **choices** ``a,b,c`` — a categorical dimension (the only form a grid takes);
- **one value** — fixed for every trial (shown beside the trial table).

The text form (``"8:256"``, ``"linear,log1p"``, ``"20"``) is what the command line, the Tune page
and the run store (a study's ``config['space']``) share; :func:`default_space` gives the defaults
for a solver and kind of data, :data:`GRID_DEFAULTS` a grid's. Optuna distributions come from
:meth:`SearchSpace.distributions` (imported lazily: the app starts without Optuna).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping

from ..errors import ConfigError
from ..train import presets

__all__ = ["SEARCHABLE", "SEARCHED_BY", "DEFAULT_SPACES", "GRID_DEFAULTS", "MAX_TRIALS",
           "Range", "SearchSpace", "default_space", "default_text", "parse_entry"]

#: Refuse studies and grids larger than this (a typo would run for days).
MAX_TRIALS = 2000


@dataclass(frozen=True)
class _Param:
    type: type
    log: bool = False
    options: tuple = ()


#: Every hyperparameter a study can search: its type, whether a range is log-scaled, and the
#: values a categorical one may take.
SEARCHABLE: dict[str, _Param] = {
    "factors": _Param(int, log=True), "epochs": _Param(int), "lr": _Param(float, log=True),
    "reg": _Param(float, log=True), "init_std": _Param(float, log=True),
    "biased": _Param(bool, options=(True, False)), "neg_ratio": _Param(float),
    "neg_sampling": _Param(str, options=("uniform", "popularity")),
    "alpha": _Param(float, log=True), "confidence": _Param(str, options=("linear", "log1p")),
    "cg_steps": _Param(int)}
#: The hyperparameters of each solver a study covers, in display order.
SEARCHED_BY: dict[str, tuple] = {
    "sgd": ("factors", "epochs", "lr", "reg", "init_std", "biased", "neg_ratio", "neg_sampling"),
    "als": ("factors", "epochs", "reg", "alpha", "confidence", "cg_steps")}
#: Default TPE / random search ranges; a hyperparameter not named is fixed at the preset of the
#: kind of data (:mod:`mfcore.train.presets`). SGD's negatives are searched only on implicit data.
DEFAULT_SPACES: dict[str, dict] = {
    "sgd": {"factors": "8:256", "epochs": "5:40", "lr": "0.001:0.05", "reg": "0.001:0.3",
            "init_std": "0.01:0.3"},
    "als": {"factors": "8:256", "epochs": "3:30", "reg": "0.001:10", "alpha": "0.5:100",
            "confidence": "linear,log1p", "cg_steps": "1:6"}}
_IMPLICIT_SGD = {"neg_ratio": "1:30"}
#: A grid's default values (each axis a factor of about 4 apart; 12 trials for SGD, 18 for ALS).
GRID_DEFAULTS: dict[str, dict] = {
    "sgd": {"factors": "8,32,128", "lr": "0.005,0.02", "reg": "0.02,0.1", "epochs": "20"},
    "als": {"factors": "16,64", "reg": "0.01,0.1,1", "alpha": "1,10,40", "epochs": "15"}}


@dataclass(frozen=True)
class Range:
    """A continuous or integer range searched by TPE or random search."""

    low: float
    high: float
    log: bool
    integer: bool

    def text(self) -> str:
        return f"{_num_text(self.low)}:{_num_text(self.high)}"


def _num_text(v) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


def _value_text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return _num_text(v)


def parse_entry(name: str, text) -> Any:
    """One search-space entry from its text: a :class:`Range`, a list of choices, or one value.

    Raises
    ------
    ConfigError
        An unknown hyperparameter, a value of the wrong type, a range whose ends are out of
        order or not > 0 on a log scale, a range of a categorical hyperparameter. The message
        starts with ``--name``.
    """
    if name not in SEARCHABLE:
        raise ConfigError(f"{name!r} is not a hyperparameter a study can search; one of "
                          f"{', '.join(SEARCHABLE)}")
    spec = SEARCHABLE[name]
    text = str(text).strip()
    if ":" in text:
        if spec.type in (bool, str):
            raise ConfigError(f"--{name} {text}: a range needs numbers; give choices "
                              f"({','.join(map(_value_text, spec.options))})")
        lo, _, hi = (p.strip() for p in text.partition(":"))
        low, high = _value(name, lo), _value(name, hi)
        if not low <= high:
            raise ConfigError(f"--{name} {text}: the range's low end is above its high end")
        if spec.log and low <= 0:
            raise ConfigError(f"--{name} {text}: a log-scaled range needs a low end > 0")
        if low == high:
            return low
        return Range(low, high, log=spec.log, integer=spec.type is int)
    values = [_value(name, p.strip()) for p in text.split(",") if p.strip()]
    if not values:
        raise ConfigError(f"--{name}: no value given")
    values = list(dict.fromkeys(values))
    return values if len(values) > 1 else values[0]


def _value(name: str, s: str):
    spec = SEARCHABLE[name]
    if spec.type is bool:
        low = s.lower()
        if low in ("true", "yes", "1"):
            return True
        if low in ("false", "no", "0"):
            return False
        raise ConfigError(f"--{name}: expected true or false, got {s!r}")
    if spec.type is str:
        if s not in spec.options:
            raise ConfigError(f"--{name}: expected one of {', '.join(spec.options)}, got {s!r}")
        return s
    try:
        v = int(s) if spec.type is int else float(s)
    except ValueError:
        kind = "an integer" if spec.type is int else "a number"
        raise ConfigError(f"--{name}: expected {kind}, got {s!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ConfigError(f"--{name}: expected a finite number >= 0, got {s!r}")
    return v


def default_text(name: str, *, solver: str, kind: str, grid: bool = False) -> str:
    """The default entry of ``name`` for this solver and kind of data, as text."""
    table = GRID_DEFAULTS[solver] if grid else {
        **DEFAULT_SPACES[solver], **(_IMPLICIT_SGD if solver == "sgd" and kind != "ratings"
                                     else {})}
    if name in table:
        return table[name]
    return _value_text(presets.defaults(kind, solver)[name])


def default_space(solver: str, kind: str, *, grid: bool = False) -> dict[str, str]:
    """Every hyperparameter of ``solver`` with its default entry (text)."""
    return {n: default_text(n, solver=solver, kind=kind, grid=grid) for n in SEARCHED_BY[solver]}


class SearchSpace:
    """The searched dimensions and the fixed values of a study.

    Parameters
    ----------
    entries : mapping of str to str, Range, list or value
        Hyperparameter → entry (text as :func:`parse_entry` reads it, or already parsed).
        The solver's hyperparameters not given take their defaults (:func:`default_space`).
    solver : {'sgd', 'als'}
    kind : {'ratings', 'counts', 'binary'}
        The kind of data (picks the defaults).
    grid : bool
        A grid: every searched dimension must be a list of values.

    Raises
    ------
    ConfigError
        A bad entry, a hyperparameter the solver does not read, a range in a grid, a grid of
        more than :data:`MAX_TRIALS` points.
    """

    def __init__(self, entries: Mapping[str, Any] | None = None, *, solver: str, kind: str,
                 grid: bool = False) -> None:
        if solver not in SEARCHED_BY:
            raise ConfigError(f"solver must be one of {', '.join(SEARCHED_BY)}, got {solver!r}")
        self.solver, self.kind, self.grid = solver, kind, grid
        entries = dict(entries or {})
        foreign = [n for n in entries if n not in SEARCHED_BY[solver]]
        if foreign:
            raise ConfigError(f"the {solver} solver does not read {', '.join(foreign)}; it "
                              f"searches {', '.join(SEARCHED_BY[solver])}")
        self.dims: dict[str, Any] = {}
        self.fixed: dict[str, Any] = {}
        for name in SEARCHED_BY[solver]:
            raw = entries.get(name)
            if raw is None or (isinstance(raw, str) and not raw.strip()):
                raw = default_text(name, solver=solver, kind=kind, grid=grid)
            entry = parse_entry(name, raw) if isinstance(raw, str) else raw
            if isinstance(entry, Range) and grid:
                raise ConfigError(f"--{name} {entry.text()}: a grid takes comma-separated "
                                  "values; ranges (LO:HI) are for the tpe and random samplers")
            (self.dims if isinstance(entry, (Range, list)) else self.fixed)[name] = entry
        if grid and self.grid_size() > MAX_TRIALS:
            raise ConfigError(f"the grid has {self.grid_size():,} points; at most "
                              f"{MAX_TRIALS:,} are allowed (use the tpe sampler instead)")

    def grid_size(self) -> int:
        """Points of the grid (1 when nothing is searched); only meaningful for a grid."""
        return math.prod(len(v) for v in self.dims.values() if isinstance(v, list))

    def text(self) -> dict[str, str]:
        """Every hyperparameter's entry as text (what the run store keeps)."""
        out = {}
        for name in SEARCHED_BY[self.solver]:
            e = self.dims.get(name, self.fixed.get(name))
            out[name] = (e.text() if isinstance(e, Range) else
                         ",".join(map(_value_text, e)) if isinstance(e, list) else _value_text(e))
        return out

    def distributions(self) -> dict:
        """Optuna distributions of the searched dimensions."""
        from optuna.distributions import (CategoricalDistribution, FloatDistribution,
                                          IntDistribution)
        out = {}
        for name, e in self.dims.items():
            if isinstance(e, list):
                out[name] = CategoricalDistribution(e)
            elif e.integer:
                out[name] = IntDistribution(int(e.low), int(e.high), log=e.log)
            else:
                out[name] = FloatDistribution(float(e.low), float(e.high), log=e.log)
        return out

    def grid_values(self) -> dict[str, list]:
        """The grid's axes (for Optuna's GridSampler)."""
        return {n: list(v) for n, v in self.dims.items()}

    def corners(self) -> list[dict]:
        """Configurations that between them take every listed value and both ends of every
        range (to check the hyperparameters before the first trial runs)."""
        n = max([2] + [len(e) for e in self.dims.values() if isinstance(e, list)])
        out = []
        for i in range(n):
            conf = dict(self.fixed)
            for name, e in self.dims.items():
                if isinstance(e, list):
                    conf[name] = e[min(i, len(e) - 1)]
                else:
                    v = e.low if i == 0 else e.high
                    conf[name] = int(v) if e.integer else float(v)
            out.append(conf)
        return out

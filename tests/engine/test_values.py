"""One rule for absent numbers across the engine: finite(), jsonable(), fmt()."""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mfcore.values import MISSING, finite, fmt, jsonable, map_float32, whole_numbers


@pytest.mark.parametrize("x, expected", [
    (1, 1.0), (np.float32(0.5), 0.5), ("2.5", 2.5), (True, 1.0),
    (None, None), (math.nan, None), (math.inf, None), (-np.inf, None), (pd.NA, None),
    ("abc", None), ([1], None),
])
def test_finite(x, expected):
    assert finite(x) == expected


def test_finite_int_truncates_and_refuses_the_same():
    assert finite(3.9, int) == 3 and isinstance(finite(np.int64(7), int), int)
    assert finite(math.nan, int) is None and finite("x", int) is None


def test_jsonable_never_lets_nan_or_inf_through():
    @dataclass
    class Point:
        x: float
        y: np.ndarray

    class Stats:
        def to_dict(self):
            return {"loss": np.float64(np.inf)}

    obj = {"a": [np.int32(1), np.float32(2.5), math.nan], "b": (True, np.bool_(False)),
           "c": Point(-math.inf, np.array([1.0, np.nan])), 3: Stats(), "p": Path("m.npz"),
           "s": {4}}
    out = jsonable(obj)
    assert out == {"a": [1, 2.5, None], "b": [True, False], "c": {"x": None, "y": [1.0, None]},
                   "3": {"loss": None}, "p": "m.npz", "s": [4]}
    json.dumps(out, allow_nan=False)


def test_fmt_fixed_digits_for_metrics_and_compact_for_tables():
    assert fmt(0.91) == "0.9100" and fmt(0.91, digits=2) == "0.91"
    for absent in (None, math.nan, np.float32(np.inf)):
        assert fmt(absent) == MISSING == fmt(absent, digits=None)
    assert fmt(1234567) == "1,234,567" and fmt(True) == "yes"
    assert fmt(0.9100, digits=None) == "0.91" and fmt(2e-5, digits=None) == "2e-05"
    assert fmt(1234.5, digits=None) == "1,234.50"
    assert fmt(pd.Timestamp("2024-05-06 07:08:09")) == "2024-05-06 07:08:09"
    assert fmt(dt.datetime(2024, 1, 2)) == "2024-01-02 00:00:00"
    assert fmt([0.5, None], digits=None) == f"0.5, {MISSING}"
    assert fmt({"lr": 0.01}, digits=None) == "lr=0.01" and fmt("log1p") == "log1p"


def test_map_float32_rounds_each_value_once_as_the_whole_column_would():
    x = np.random.default_rng(0).lognormal(0, 3, 10_007).astype(np.float32)
    fn = lambda v: np.log1p(v.astype(np.float64)) * 1.7 + 0.1  # noqa: E731
    got = map_float32(fn, x, chunk=1000)  # 11 slices, the last one short
    assert got.dtype == np.float32 and np.array_equal(got, fn(x).astype(np.float32))
    assert map_float32(fn, x[:0]).shape == (0,)


def test_whole_numbers_looks_at_every_slice():
    x = np.arange(2_500, dtype=np.float32)
    assert whole_numbers(x, chunk=1000) and whole_numbers(x[:0])
    x[2_400] = 3.5  # in the last, short slice
    assert not whole_numbers(x, chunk=1000)

"""ui.text: numbers and errors as the pages say them."""
from __future__ import annotations

import math
from types import SimpleNamespace

from mfcore.errors import DataError
from ui.text import (error_text, failure_text, human_bytes, human_rate, human_seconds,
                     ranking_share, training_eta)


def epoch(seconds: float, eval_seconds: float = math.nan):
    return SimpleNamespace(seconds=seconds, eval_seconds=eval_seconds)


def test_sizes_times_and_rates():
    assert human_bytes(512) == "512 B" and human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 * 2**30) == "3.0 GiB"  # powers of 1024 are named so
    assert human_seconds(0.25) == "250 ms" and human_seconds(12.34) == "12.3 s"
    assert human_seconds(125) == "2 min 05 s" and human_seconds(3 * 3600 + 60) == "3 h 01 min"
    assert human_seconds(None) == human_seconds(math.inf) == "–"
    assert human_rate(2_500_000) == "2.50 M" and human_rate(999) == "999"
    assert human_rate(math.nan) == "–"


def test_eta_and_ranking_share_from_the_epochs_so_far():
    history = [epoch(2.0, 0.5), epoch(4.0, math.nan), epoch(2.0, 1.0)]
    assert training_eta(history, 10) == 7 * (8.0 / 3)
    assert training_eta([], 10) is None
    assert ranking_share(history) == (0.25 + 0.5) / 2  # the unranked epoch is left out
    assert ranking_share([epoch(1.0)]) is None


def test_errors_are_one_line_and_typed_unless_ours():
    ours = DataError("bad value", source="plays.tsv", line=3)
    assert error_text(ours) == str(ours) and "plays.tsv" in error_text(ours)
    assert error_text(RuntimeError("boom")) == "RuntimeError: boom"
    assert failure_text(ours, "Could not start") == str(ours)
    assert failure_text(KeyError("x"), "Could not start") == "Could not start: KeyError: 'x'"

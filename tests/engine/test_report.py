"""HTML reports: one self-contained file with the settings, the data summary and the metrics
(a study's report is tested with the studies, tests/test_tune_optuna.py)."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pytest

from mfcore.prepare import prepare
from mfcore.report import (item_map_2d, loss_curve, rmse_curve, run_report_html,
                           runs_overlay_figure)
from mfcore.runstore import RunHistory
from mfcore.tune import run_study

PLOTLY_BUNDLE = re.compile(r"plotly\.js v\d+\.\d+")


@pytest.fixture(scope="module")
def sweep(request, tmp_path_factory):
    data = request.getfixturevalue("msd_small")
    hist = RunHistory(tmp_path_factory.mktemp("h") / "runs.sqlite")
    res = run_study(prepare(data), {"factors": "2,4", "lr": "0.01,0.02", "reg": "0.05",
                                    "epochs": "3"}, sampler="grid", objective="precision@5",
                    history=hist, base_params={"solver": "sgd"})
    return res, hist


class _Refs(HTMLParser):
    """Collects every src/href attribute of the document's tags."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.refs += [(tag, v) for a, v in attrs if a in ("src", "href") and v]


def _self_contained(doc: str) -> None:
    assert doc.startswith("<!DOCTYPE html>") and doc.rstrip().endswith("</html>")
    assert '<script src="http' not in doc
    parser = _Refs()
    parser.feed(doc)
    assert parser.refs == []  # no external script, stylesheet, image or link at all
    assert len(PLOTLY_BUNDLE.findall(doc)) == 1  # plotly.js inlined, once


def test_run_report_is_self_contained_with_settings(sweep):
    res, hist = sweep
    run = hist.get_run(res.best["run_id"])
    doc = run_report_html(run)
    _self_contained(doc)
    assert doc.count("Plotly.newPlot") == 2  # RMSE and loss curves
    for needle in ("Settings (hyperparameters)", "factors", "init_std", "neg_sampling",
                   "Dataset", "synthetic:msd", run["fingerprint"], "validation RMSE",
                   "precision@k", f"Run {run['id']}", "Per-epoch history"):
        assert needle in doc, needle
    assert f"{run['params']['lr']:g}" in doc


def test_values_are_escaped():
    run = {"id": 1, "status": "fitted", "source": "cli", "params": {"factors": 2},
           "data": {"source": "<script>alert(1)</script>"}, "history": [], "note": None}
    doc = run_report_html(run)
    assert "<script>alert(1)</script>" not in doc and "&lt;script&gt;" in doc
    assert "Plotly.newPlot" not in doc  # no history, no figure


def test_figures_build(sweep):
    res, hist = sweep
    ids = res.trials_frame()["run_id"].tolist()
    assert len(runs_overlay_figure(hist.histories(ids)).data) == len(ids)
    history = hist.get_run(ids[0])["history"]  # dicts, as the run store gives them
    assert len(rmse_curve(history).data) == 2  # train and validation
    assert list(loss_curve(history).data[0].y) == [h["loss"] for h in history]


def test_song_map_axes_are_the_principal_components():
    # Items on a line along (1, 2, 0) plus a smaller spread along (0, 0, 1): PC 1 is the line.
    rng = np.random.default_rng(0)
    t, s = rng.normal(size=200), 0.1 * rng.normal(size=200)
    t, s = t - t.mean(), s - s.mean()
    s -= (s @ t) / (t @ t) * t  # uncorrelated, so the principal axes are exactly these two
    Q = np.outer(t, [1.0, 2.0, 0.0]) + np.outer(s, [0.0, 0.0, 1.0]) + 5.0
    idx, coords, explained = item_map_2d(Q)
    assert np.array_equal(idx, np.arange(200))
    assert abs(abs(np.corrcoef(coords[:, 0], t)[0, 1]) - 1) < 1e-9
    assert abs(abs(np.corrcoef(coords[:, 1], s)[0, 1]) - 1) < 1e-9
    expected = np.array([5 * t.var(), s.var()]) / (5 * t.var() + s.var())
    assert np.allclose(explained, expected)
    # The sign is fixed: the point furthest out on each axis lies on its positive side.
    assert all(coords[np.argmax(np.abs(coords[:, a])), a] > 0 for a in (0, 1))
    # Only the heaviest items, in index order.
    w = np.arange(200, dtype=float)
    idx, coords, _ = item_map_2d(Q, max_points=10, weights=w)
    assert idx.tolist() == list(range(190, 200)) and coords.shape == (10, 2)


def test_one_epoch_curves_read_plainly():
    """A single point (or a flat curve) gets a ±5% axis, not ticks in its rounding noise
    ("10.835546M / 10.8355455M")."""
    from mfcore.model import EpochStats
    from mfcore.report import loss_curve, rmse_curve
    one = [EpochStats(1, 10_835_546.0, 0.9, 0.95, 1.0, 1e6)]
    lo, hi = loss_curve(one).layout.yaxis.range
    assert lo < 10_835_546.0 < hi and (hi - lo) / 10_835_546.0 >= 0.09
    same = [EpochStats(1, 1.0, 0.9, 0.9, 1.0, 1e6)]
    assert rmse_curve(same).layout.yaxis.range is not None
    two = one + [EpochStats(2, 5_000_000.0, 0.8, 0.9, 1.0, 1e6)]
    assert loss_curve(two).layout.yaxis.range is None  # a real curve keeps plotly's own range


def _bars_the_first_way(values):
    """The play-count bars as first drawn: float64 copy, np.percentile, np.bincount."""
    v = np.asarray(values, dtype=np.float64)
    cap = int(min(np.percentile(v, 99.5), 200))
    counts = np.bincount(np.minimum(v, cap + 1).astype(np.int64))
    xs = np.arange(len(counts))
    return xs[counts > 0].tolist(), counts[counts > 0].tolist(), cap


@pytest.mark.parametrize("scale", [3.0, 40.0, 400.0, None])  # cap below 200, near it, at 200
def test_play_count_bars_are_counted_a_slice_at_a_time_as_before(scale):
    from mfcore.report import value_distribution
    if scale is None:  # the 99.5th percentile between 150 and 250 (found by review)
        v = np.array([0] * 190 + [150, 250], np.float32)
    else:
        v = np.floor(np.random.default_rng(4).pareto(1.2, 50_000) * scale + 1).astype(np.float32)
    fig = value_distribution(v, "counts")
    xs, ys, cap = _bars_the_first_way(v)
    assert list(fig.data[0].x) == xs and list(fig.data[0].y) == ys
    assert bool(fig.layout.annotations) == bool(v.max() > cap)


def test_song_map_summed_over_slices_is_the_same_map(monkeypatch):
    import mfcore.report.projection as projection
    Q = np.random.default_rng(5).normal(size=(500, 6)).astype(np.float32)
    whole = item_map_2d(Q, max_points=50, weights=np.arange(500.0))
    monkeypatch.setattr(projection, "_SLICE", 7)  # 72 slices, the last one short
    sliced = item_map_2d(Q, max_points=50, weights=np.arange(500.0))
    assert np.array_equal(whole[0], sliced[0])
    np.testing.assert_allclose(sliced[1], whole[1], atol=1e-9)
    np.testing.assert_allclose(sliced[2], whole[2], atol=1e-12)

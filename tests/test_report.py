"""HTML reports: one self-contained file with the settings, the data summary and the metrics
(a study's report is tested with the studies, tests/test_tune_optuna.py)."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from mfcore.prepare import prepare
from mfcore.report import history_figure, run_report_html, runs_overlay_figure
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
    assert len(history_figure(hist.get_run(ids[0])["history"]).data) == 2

"""Self-contained HTML reports of a run, and the plotly figures they (and the pages) use.

A report is ONE HTML file that opens in any browser without the server or a network: plotly.js
is inlined once (``include_plotlyjs=True``, no CDN), followed by the figures, the settings,
the dataset summary and the metrics as plain tables. Every value is HTML-escaped.

``run_report_html(run)`` takes a run as returned by :meth:`mfcore.runstore.RunHistory.get_run`.
A study's report and figures are :mod:`mfcore.tune.plots` (Optuna's plots).
"""
from __future__ import annotations

import datetime as _dt
import html
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .values import finite, fmt

__all__ = ["run_report_html", "history_figure", "runs_overlay_figure"]

ACCENT = "#4F46E5"
SECOND = "#F97316"
GREY = "#94A3B8"
_LAYOUT = dict(template="plotly_white", margin=dict(l=10, r=10, t=50, b=10), height=340,
               legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1),
               font=dict(size=12))


# ---- figures --------------------------------------------------------------------------------
def _fig(title: str, **layout):
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(title=dict(text=title, x=0, font=dict(size=14)), **{**_LAYOUT, **layout})
    return fig


def _nan_to_none(xs: Iterable) -> list:
    return [finite(x) for x in xs]


def _get(h, name):
    return h[name] if isinstance(h, Mapping) else getattr(h, name)


def history_figure(history: Sequence, *, what: str = "rmse", best_epoch: int | None = None):
    """Per-epoch curve of one run: ``what='rmse'`` (train and validation) or ``'loss'``.

    ``history`` holds EpochStats or their dicts.
    """
    epochs = [int(_get(h, "epoch")) for h in history]
    if what == "loss":
        fig = _fig("Regularised training loss per epoch")
        fig.add_scatter(x=epochs, y=_nan_to_none(_get(h, "loss") for h in history),
                        mode="lines+markers", name="loss", line=dict(color=ACCENT))
        fig.update_yaxes(title="Σ e² + λ(‖p‖² + ‖q‖² + b²)")
    else:
        fig = _fig("RMSE per epoch")
        fig.add_scatter(x=epochs, y=_nan_to_none(_get(h, "train_rmse") for h in history),
                        mode="lines+markers", name="train", line=dict(color=ACCENT))
        val = _nan_to_none(_get(h, "val_rmse") for h in history)
        if any(v is not None for v in val):
            fig.add_scatter(x=epochs, y=val, mode="lines+markers", name="validation",
                            line=dict(color=SECOND))
        if best_epoch:
            fig.add_vline(x=best_epoch, line=dict(color=GREY, dash="dot"),
                          annotation_text="best", annotation_position="top left")
        fig.update_yaxes(title="RMSE")
    fig.update_xaxes(title="epoch", rangemode="tozero")
    return fig


def runs_overlay_figure(histories: pd.DataFrame, labels: Mapping[int, str] | None = None, *,
                        metric: str = "val_rmse"):
    """Several runs' per-epoch ``metric`` (loss, train_rmse, val_rmse) on one plot.

    ``histories`` is long format (``run_id``, ``epoch``, metric columns), as
    :meth:`~mfcore.runstore.RunHistory.histories` returns.
    """
    names = {"loss": "Training loss", "train_rmse": "Train RMSE", "val_rmse": "Validation RMSE"}
    fig = _fig(f"{names.get(metric, metric)} per epoch")
    for run_id, g in histories.groupby("run_id", sort=True):
        label = (labels or {}).get(int(run_id), f"run {int(run_id)}")
        fig.add_scatter(x=g["epoch"].tolist(), y=_nan_to_none(g[metric]), mode="lines+markers",
                        name=label, marker=dict(size=4))
    fig.update_xaxes(title="epoch", rangemode="tozero")
    fig.update_yaxes(title=names.get(metric, metric))
    return fig


# ---- HTML -----------------------------------------------------------------------------------
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;
max-width:1100px;color:#0f172a;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.15rem;margin-top:2rem;
border-bottom:1px solid #e2e8f0;padding-bottom:.3rem}
.sub{color:#64748b;margin-top:0}
table{border-collapse:collapse;font-size:.9rem;margin:.5rem 0}
th,td{border:1px solid #e2e8f0;padding:.25rem .6rem;text-align:left}
th{background:#f8fafc}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.best td{background:#dcfce7;font-weight:600}
.note{color:#475569;font-size:.85rem}.scroll{overflow-x:auto;max-width:100%}
"""


class _Figures:
    """Embeds figures; plotly.js goes inline with the first one only."""

    def __init__(self) -> None:
        self.first = True

    def __call__(self, fig) -> str:
        out = fig.to_html(full_html=False, include_plotlyjs=self.first,
                          config={"displaylogo": False, "responsive": True})
        self.first = False
        return out


def _kv_table(rows: Iterable[tuple[str, Any]]) -> str:
    body = "".join(
        f"<tr><th>{html.escape(str(k))}</th>"
        f"<td{' class=num' if isinstance(v, (int, float, np.number)) else ''}>"
        f"{html.escape(fmt(v, digits=None))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _frame_table(frame: pd.DataFrame, highlight: Any = None, key: str | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, r in frame.iterrows():
        cls = ' class="best"' if (key is not None and highlight is not None
                                  and r.get(key) == highlight) else ""
        cells = "".join(
            f"<td{' class=num' if isinstance(v, (int, float, np.number)) else ''}>"
            f"{html.escape(fmt(v, digits=None))}</td>" for v in r.tolist())
        rows.append(f"<tr{cls}>{cells}</tr>")
    return (f"<div class=\"scroll\"><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _page(title: str, subtitle: str, body: str) -> str:
    now = _dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p class=\"sub\">{html.escape(subtitle)}</p>"
            f"{body}<p class=\"note\">Generated by MF Explorer (mfcore) on {now}. This file is "
            "self-contained: it needs no server and no network.</p></body></html>\n")


def _when(created) -> str:
    if created is None:
        return ""
    try:
        return _dt.datetime.fromtimestamp(float(created)).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OSError):
        return str(created)


def run_report_html(run: Mapping) -> str:
    """One run as a self-contained HTML page.

    Parameters
    ----------
    run : dict
        As :meth:`mfcore.runstore.RunHistory.get_run` returns (``params``, ``data``,
        ``metrics``, ``history`` and the run's columns). A dict with fewer keys also works.

    Returns
    -------
    str
        The HTML document.
    """
    fig = _Figures()
    params = dict(run.get("params") or {})
    data = dict(run.get("data") or {})
    history = list(run.get("history") or [])
    title = f"Run {run.get('id', '')}".strip()
    sub = " · ".join(s for s in (
        f"status {run.get('status', '?')}", f"source {run.get('source', '?')}",
        _when(run.get("created")),
        f"sweep {run['sweep_id']}" if run.get("sweep_id") else "") if s)
    parts = []
    metric_rows = [(name, run.get(key)) for name, key in (
        ("train RMSE", "train_rmse"), ("validation RMSE", "val_rmse"),
        ("validation MAE", "val_mae"), ("k", "k"), ("precision@k", "precision_at_k"),
        ("recall@k", "recall_at_k"), ("NDCG@k", "ndcg_at_k"),
        ("epochs run", "epochs_run"), ("best epoch", "best_epoch"),
        ("training seconds", "fit_seconds")) if run.get(key) is not None]
    if not run.get("epochs_run") and history:
        metric_rows.append(("epochs run", len(history)))
    parts.append("<h2>Metrics</h2>" + _kv_table(metric_rows))
    if history:
        # Stacked, not side by side: plotly sizes a figure when its script runs, before a
        # later grid cell would have narrowed it.
        parts.append("<h2>Training curves</h2>"
                     + fig(history_figure(history, best_epoch=run.get("best_epoch")))
                     + fig(history_figure(history, what="loss")))
    parts.append("<h2>Settings (hyperparameters)</h2>" + _kv_table(sorted(params.items())))
    data_rows = [(k, v) for k, v in data.items()]
    for k in ("n_train", "n_val", "split"):
        if run.get(k) is not None:
            data_rows.append((k, run[k]))
    parts.append("<h2>Dataset</h2>" + _kv_table(data_rows))
    if run.get("model_path"):
        parts.append("<h2>Model file</h2>" + _kv_table([("path", run["model_path"])]))
    if history:
        frame = pd.DataFrame(history)
        parts.append("<h2>Per-epoch history</h2>" + _frame_table(frame))
    known = {"train_rmse", "val_rmse", "val_mae", "k", "precision_at_k", "recall_at_k",
             "ndcg_at_k", "fit_seconds", "n_users", "n_items", "n_train", "n_val", "split",
             "best_epoch", "model_path", "run_id"}
    extra = {k: v for k, v in (run.get("metrics") or {}).items()
             if not isinstance(v, (dict, list)) and k not in known}
    if extra:
        parts.append("<h2>Other figures reported</h2>" + _kv_table(sorted(extra.items())))
    return _page(f"MF Explorer — {title}", sub, "".join(parts))

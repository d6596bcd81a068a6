"""Self-contained HTML reports of a run or a sweep, and the plotly figures they (and the pages) use.

A report is ONE HTML file that opens in any browser without the server or a network: plotly.js
is inlined once (``include_plotlyjs=True``, no CDN), followed by the figures, the settings,
the dataset summary and the metrics as plain tables. Every value is HTML-escaped.

``run_report_html(run)`` takes a run as returned by :meth:`mfcore.runstore.RunHistory.get_run`;
``sweep_report_html(trials_df, best, importance, meta)`` takes what :func:`mfcore.tune.run_sweep`
returns (``result.trials_frame(), result.best, result.importance, result.meta``).
"""
from __future__ import annotations

import datetime as _dt
import html
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from .values import finite, fmt

__all__ = ["run_report_html", "sweep_report_html", "history_figure", "runs_overlay_figure",
           "sweep_scatter_figure", "parallel_figure", "importance_figure"]

ACCENT = "#4F46E5"
SECOND = "#F97316"
GREY = "#94A3B8"
BEST = "#16A34A"
_LAYOUT = dict(template="plotly_white", margin=dict(l=10, r=10, t=50, b=10), height=340,
               legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="right", x=1),
               font=dict(size=12))
_STATUS_SYMBOL = {"fitted": "circle", "early_stopped": "diamond", "diverged": "x",
                  "failed": "x", "cancelled": "square"}
_LOG_AXES = ("lr", "reg")
_PARAM_LABELS = {"factors": "latent size k", "lr": "learning rate γ", "reg": "regularisation λ",
                 "epochs": "epochs"}
_METRIC_LABELS = {"val_rmse": "validation RMSE", "precision_at_k": "precision@k",
                  "train_rmse": "train RMSE"}


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


def sweep_scatter_figure(trials: pd.DataFrame, metric: str = "val_rmse",
                         params: Sequence[str] = ("factors", "lr", "reg", "epochs"),
                         best_trial: int | None = None):
    """``metric`` against each varied hyperparameter, one panel each (log x for lr and reg).

    Markers: circle fitted, diamond early-stopped, x diverged; the best trial is green.
    """
    from plotly.subplots import make_subplots

    varied = [p for p in params if p in trials and trials[p].nunique(dropna=True) > 1] or \
        [p for p in params if p in trials][:1] or ["factors"]
    fig = make_subplots(rows=1, cols=len(varied), shared_yaxes=True,
                        subplot_titles=[_PARAM_LABELS.get(p, p) for p in varied],
                        horizontal_spacing=0.04)
    fig.update_layout(title=dict(text=f"{_METRIC_LABELS.get(metric, metric)} of each trial",
                                 x=0, font=dict(size=14)), **{**_LAYOUT, "showlegend": False})
    if len(trials) and metric in trials:
        status = trials["status"] if "status" in trials else pd.Series(["fitted"] * len(trials))
        trial_no = trials["trial"] if "trial" in trials else pd.Series(range(1, len(trials) + 1))
        colors = [BEST if best_trial is not None and int(t) == int(best_trial) else ACCENT
                  for t in trial_no]
        text = [f"trial {int(t)} · {s}" for t, s in zip(trial_no, status)]
        for c, p in enumerate(varied, start=1):
            if p not in trials:
                continue
            fig.add_scatter(x=trials[p].tolist(), y=_nan_to_none(trials[metric]), mode="markers",
                            text=text, row=1, col=c,
                            marker=dict(size=9, color=colors, opacity=0.85,
                                        symbol=[_STATUS_SYMBOL.get(s, "circle") for s in status],
                                        line=dict(width=1, color="white")),
                            hovertemplate=f"{p} = %{{x}}<br>{metric} = %{{y:.4f}}"
                                          "<br>%{text}<extra></extra>")
            if p in _LOG_AXES:
                fig.update_xaxes(type="log", row=1, col=c)
    fig.update_yaxes(title_text=_METRIC_LABELS.get(metric, metric), row=1, col=1)
    return fig


def parallel_figure(trials: pd.DataFrame, metric: str = "val_rmse",
                    params: Sequence[str] = ("factors", "lr", "reg", "epochs")):
    """Parallel coordinates of every usable trial: the hyperparameters, then ``metric``.

    lr and reg axes are log10, hyperparameters that never vary are left out; lines are coloured
    by the metric (darker is better).
    """
    import plotly.graph_objects as go

    fig = _fig("All trials, parallel coordinates", height=380)
    frame = trials
    if "status" in frame:
        frame = frame[~frame["status"].isin(["failed", "cancelled"])]
    frame = frame[pd.to_numeric(frame.get(metric), errors="coerce").notna()] \
        if metric in frame else frame.iloc[0:0]
    if frame.empty:
        return fig
    dims = []
    for p in params:
        if p not in frame or (frame[p].nunique() < 2 and len(frame) > 1):
            continue  # a constant axis says nothing
        v = frame[p].astype(float)
        if p in _LOG_AXES and (v > 0).all():
            dims.append(dict(label=f"log₁₀ {p}", values=np.log10(v).tolist()))
        else:
            dims.append(dict(label=p, values=v.tolist()))
    y = frame[metric].astype(float)
    dims.append(dict(label=_METRIC_LABELS.get(metric, metric), values=y.tolist()))
    higher = metric.startswith("precision")
    fig.add_trace(go.Parcoords(
        dimensions=dims,
        line=dict(color=y.tolist(), colorscale="Viridis", reversescale=not higher,
                  showscale=True, colorbar=dict(title=metric))))
    fig.update_layout(margin=dict(l=60, r=40, t=70, b=20))
    return fig


def importance_figure(importance: Mapping[str, float]):
    """Horizontal bars of eta² per hyperparameter."""
    fig = _fig("Importance: share of variance explained (eta²)", showlegend=False)
    items = sorted(importance.items(), key=lambda kv: kv[1])
    fig.add_bar(x=[v for _, v in items], y=[_PARAM_LABELS.get(k, k) for k, _ in items],
                orientation="h", marker_color=ACCENT, text=[f"{v:.2f}" for _, v in items],
                textposition="auto", hovertemplate="%{y}: %{x:.3f}<extra></extra>")
    fig.update_xaxes(range=[0, 1], title="eta² (0 = no effect on average, 1 = all of it)")
    fig.update_layout(height=100 + 40 * max(len(items), 1))
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


def sweep_report_html(trials_df: pd.DataFrame, best: Mapping | None,
                      importance: Mapping[str, float], meta: Mapping) -> str:
    """A sweep as a self-contained HTML page.

    Parameters
    ----------
    trials_df : DataFrame
        :meth:`mfcore.tune.SweepResult.trials_frame` (one row per trial).
    best : dict or None
        ``SweepResult.best``.
    importance : dict
        ``SweepResult.importance`` (eta² per hyperparameter).
    meta : dict
        ``SweepResult.meta`` plus optionally ``sweep_id``, ``status``, ``wall_seconds``.

    Returns
    -------
    str
    """
    fig = _Figures()
    meta = dict(meta or {})
    metric = meta.get("metric", "val_rmse")
    best_no = int(best["index"]) + 1 if best and best.get("index") is not None else None
    title = f"Sweep {meta.get('sweep_id', '')}".strip()
    sub = " · ".join(s for s in (
        f"{meta.get('kind', 'sweep')} search", f"{len(trials_df)} trials",
        f"status {meta['status']}" if meta.get("status") else "",
        f"{meta['wall_seconds']:.1f} s" if isinstance(meta.get("wall_seconds"), (int, float))
        else "", f"best by {_METRIC_LABELS.get(metric, metric)}") if s)
    parts = []
    if best:
        bp = best.get("params", {})
        rows = [(_PARAM_LABELS.get(p, p), bp.get(p)) for p in ("factors", "lr", "reg", "epochs")]
        rows += [("trial", best_no), ("status", best.get("status")),
                 ("validation RMSE", best.get("val_rmse")), ("train RMSE", best.get("train_rmse"))]
        if best.get("precision_at_k") is not None:
            rows.append((f"precision@{meta.get('k') or 'k'}", best.get("precision_at_k")))
        if best.get("run_id") is not None:
            rows.append(("run id", best.get("run_id")))
        parts.append("<h2>Best configuration</h2>" + _kv_table(rows))
    else:
        parts.append("<h2>Best configuration</h2><p>No trial finished normally.</p>")
    if len(trials_df):
        parts.append("<h2>Trials</h2>" + fig(sweep_scatter_figure(trials_df, "val_rmse",
                                                                   best_trial=best_no)))
        if "precision_at_k" in trials_df and trials_df["precision_at_k"].notna().any():
            parts.append(fig(sweep_scatter_figure(trials_df, "precision_at_k",
                                                  best_trial=best_no)))
        parts.append(fig(parallel_figure(trials_df, metric)))
    if importance:
        parts.append("<h2>Importance</h2>" + fig(importance_figure(importance)) +
                     "<p class=\"note\">eta² of a hyperparameter = the share of the variance of "
                     f"{html.escape(_METRIC_LABELS.get(metric, metric))} across trials explained "
                     "by the mean of each of its values (one-way ANOVA; many values are binned, "
                     "on a log scale for k, lr and reg). Diverged trials are left out. It is a "
                     "marginal estimate: with few trials read it as a ranking.</p>")
    shown = trials_df.drop(columns=[c for c in ("error",) if c in trials_df
                                    and trials_df[c].isna().all()])
    parts.append("<h2>All trials</h2>" + _frame_table(shown, highlight=best_no, key="trial"))
    fixed = meta.get("fixed_params") or {}
    if fixed:
        parts.append("<h2>Settings shared by every trial</h2>" + _kv_table(sorted(fixed.items())))
    space = meta.get("space") or {}
    if space:
        parts.append("<h2>Search space</h2>" + _kv_table(space.items()))
    data = dict(meta.get("data") or {})
    for k in ("split", "n_train", "n_val", "k"):
        if meta.get(k) is not None:
            data[k] = meta[k]
    if data:
        parts.append("<h2>Dataset</h2>" + _kv_table(data.items()))
    return _page(f"MF Explorer — {title}", sub, "".join(parts))

"""The plotly figures of a sweep: each trial against each hyperparameter, parallel
coordinates, importance (the Tune page and the sweep report draw them)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from .style import ACCENT, BEST, LAYOUT, finite_values, new_figure, title

__all__ = ["sweep_scatter_figure", "parallel_figure", "importance_figure", "PARAM_LABELS",
           "METRIC_LABELS"]

_STATUS_SYMBOL = {"fitted": "circle", "early_stopped": "diamond", "diverged": "x",
                  "failed": "x", "cancelled": "square"}
_LOG_AXES = ("lr", "reg")
PARAM_LABELS = {"factors": "latent size k", "lr": "learning rate γ", "reg": "regularisation λ",
                "epochs": "epochs"}
METRIC_LABELS = {"val_rmse": "validation RMSE", "precision_at_k": "precision@k",
                 "train_rmse": "train RMSE"}


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
                        subplot_titles=[PARAM_LABELS.get(p, p) for p in varied],
                        horizontal_spacing=0.04)
    fig.update_layout(title=title(f"{METRIC_LABELS.get(metric, metric)} of each trial"),
                      **{**LAYOUT, "showlegend": False})
    if len(trials) and metric in trials:
        status = trials["status"] if "status" in trials else pd.Series(["fitted"] * len(trials))
        trial_no = trials["trial"] if "trial" in trials else pd.Series(range(1, len(trials) + 1))
        colors = [BEST if best_trial is not None and int(t) == int(best_trial) else ACCENT
                  for t in trial_no]
        text = [f"trial {int(t)} · {s}" for t, s in zip(trial_no, status)]
        for c, p in enumerate(varied, start=1):
            if p not in trials:
                continue
            fig.add_scatter(x=trials[p].tolist(), y=finite_values(trials[metric]), mode="markers",
                            text=text, row=1, col=c,
                            marker=dict(size=9, color=colors, opacity=0.85,
                                        symbol=[_STATUS_SYMBOL.get(s, "circle") for s in status],
                                        line=dict(width=1, color="white")),
                            hovertemplate=f"{p} = %{{x}}<br>{metric} = %{{y:.4f}}"
                                          "<br>%{text}<extra></extra>")
            if p in _LOG_AXES:
                fig.update_xaxes(type="log", row=1, col=c)
    fig.update_yaxes(title_text=METRIC_LABELS.get(metric, metric), row=1, col=1)
    return fig


def parallel_figure(trials: pd.DataFrame, metric: str = "val_rmse",
                    params: Sequence[str] = ("factors", "lr", "reg", "epochs")):
    """Parallel coordinates of every usable trial: the hyperparameters, then ``metric``.

    lr and reg axes are log10, hyperparameters that never vary are left out; lines are coloured
    by the metric (darker is better).
    """
    import plotly.graph_objects as go

    fig = new_figure("All trials, parallel coordinates", height=380)
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
            dims.append(dict(label=f"{p} (log scale)", values=np.log10(v).tolist(),
                             **_log_ticks(v)))
        else:
            dims.append(dict(label=p, values=v.tolist()))
    y = frame[metric].astype(float)
    dims.append(dict(label=METRIC_LABELS.get(metric, metric), values=y.tolist()))
    higher = metric.startswith("precision")
    fig.add_trace(go.Parcoords(
        dimensions=dims,
        line=dict(color=y.tolist(), colorscale="Viridis", reversescale=not higher,
                  showscale=True, colorbar=dict(title=metric))))
    fig.update_layout(margin=dict(l=60, r=40, t=70, b=20))
    return fig


def _log_ticks(values: pd.Series) -> dict:
    """Ticks of a log10 axis labelled with the values themselves (0.02, not −1.69897): the
    values tried when they are few, else the powers of ten they span."""
    distinct = np.unique(values.to_numpy(dtype=float))
    if len(distinct) > 8:
        lo, hi = np.floor(np.log10(distinct[0])), np.ceil(np.log10(distinct[-1]))
        distinct = 10.0 ** np.arange(lo, hi + 1)
    return dict(tickvals=np.log10(distinct).tolist(), ticktext=[f"{x:g}" for x in distinct])


def importance_figure(importance: Mapping[str, float]):
    """Horizontal bars of eta² per hyperparameter."""
    fig = new_figure("Importance: share of variance explained (eta²)", showlegend=False)
    items = sorted(importance.items(), key=lambda kv: kv[1])
    fig.add_bar(x=[v for _, v in items], y=[PARAM_LABELS.get(k, k) for k, _ in items],
                orientation="h", marker_color=ACCENT, text=[f"{v:.2f}" for _, v in items],
                textposition="auto", hovertemplate="%{y}: %{x:.3f}<extra></extra>")
    fig.update_xaxes(range=[0, 1], title="eta² (0 = no effect on average, 1 = all of it)")
    fig.update_layout(height=100 + 40 * max(len(items), 1))
    return fig

"""Plotly figures for the pages (built fresh on every run; the pages give each a fixed key)."""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from mfcore.report import ACCENT, GREY, SECOND  # one palette for the app and its reports
_LAYOUT = dict(template="plotly_white", margin=dict(l=10, r=10, t=64, b=10), height=340,
               legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
               font=dict(size=12))


def _fig(title: str, **layout) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=dict(text=title, x=0, y=0.98, yref="container", yanchor="top",
                                 font=dict(size=14)), **{**_LAYOUT, **layout})
    return fig


def _finite(xs) -> list:
    return [x if x is not None and math.isfinite(x) else None for x in xs]


def _mode(n: int) -> str:
    return "lines+markers" if n <= 60 else "lines"


LOSS_AXIS = {"sgd": "Σ e² + λ(‖p‖² + ‖q‖² + b²)", "als": "Σ c(p − x·y)² + λ(‖x‖² + ‖y‖²)"}


def loss_curve(history: list, solver: str = "sgd") -> go.Figure:
    fig = _fig("Regularised training loss")
    epochs = [h.epoch for h in history]
    fig.add_scatter(x=epochs, y=_finite([h.loss for h in history]), mode=_mode(len(epochs)),
                    name="loss", line=dict(color=ACCENT), marker=dict(size=4))
    fig.update_xaxes(title="epoch", rangemode="tozero")
    fig.update_yaxes(title=LOSS_AXIS.get(solver, LOSS_AXIS["sgd"]))
    if len(epochs) < 2:
        fig.update_xaxes(range=[0, max(epochs + [1]) + 1])
    return fig


def rmse_curve(history: list, best_epoch: int | None = None) -> go.Figure:
    fig = _fig("RMSE per epoch")
    epochs = [h.epoch for h in history]
    fig.add_scatter(x=epochs, y=_finite([h.train_rmse for h in history]), mode=_mode(len(epochs)),
                    name="train", line=dict(color=ACCENT), marker=dict(size=4))
    val = _finite([h.val_rmse for h in history])
    if any(v is not None for v in val):
        fig.add_scatter(x=epochs, y=val, mode=_mode(len(epochs)), name="validation",
                        line=dict(color=SECOND), marker=dict(size=4))
    if best_epoch:
        fig.add_vline(x=best_epoch, line=dict(color=GREY, dash="dot"),
                      annotation_text="best", annotation_position="top left")
    fig.update_xaxes(title="epoch", rangemode="tozero")
    fig.update_yaxes(title="RMSE = √mean e²")
    if len(epochs) < 2:
        fig.update_xaxes(range=[0, max(epochs + [1]) + 1])
    return fig


def ranking_curve(history: list, k: int, best_epoch: int | None = None) -> go.Figure:
    """precision@k, recall@k and NDCG@k of the validation sample after every epoch."""
    fig = _fig(f"Validation ranking @{k} per epoch")
    epochs = [h.epoch for h in history]
    for name, color in (("ndcg", ACCENT), ("precision", SECOND), ("recall", GREY)):
        fig.add_scatter(x=epochs, y=_finite([getattr(h, name) for h in history]),
                        mode=_mode(len(epochs)), name=f"{name}@{k}" if name != "ndcg"
                        else f"NDCG@{k}", line=dict(color=color), marker=dict(size=4))
    if best_epoch:
        fig.add_vline(x=best_epoch, line=dict(color=GREY, dash="dot"),
                      annotation_text="best", annotation_position="top left")
    fig.update_xaxes(title="epoch", rangemode="tozero")
    fig.update_yaxes(title="mean over the validation sample", rangemode="tozero")
    if len(epochs) < 2:
        fig.update_xaxes(range=[0, max(epochs + [1]) + 1])
    return fig


def value_distribution(values: np.ndarray, implicit: bool) -> go.Figure:
    """Histogram of play counts, log-scaled counts axis (integer bins up to a cap)."""
    v = np.asarray(values, dtype=np.float64)
    fig = _fig("Play-count distribution" if not implicit else "Value distribution")
    if len(v) == 0:
        return fig
    integral = np.all(np.mod(v, 1) == 0)
    if integral and v.min() >= 0:
        cap = int(min(np.percentile(v, 99.5), 200))
        clipped = np.minimum(v, cap + 1).astype(np.int64)
        counts = np.bincount(clipped)
        xs = np.arange(len(counts))
        keep = counts > 0
        fig.add_bar(x=xs[keep], y=counts[keep], marker_color=ACCENT, name="pairs",
                    hovertemplate="value %{x}: %{y:,} pairs<extra></extra>")
        if v.max() > cap:
            fig.add_annotation(x=cap + 1, y=math.log10(max(counts[cap + 1], 1)), yref="y",
                               text=f"> {cap}", showarrow=True, arrowhead=2, ax=0, ay=-30)
    else:
        fig.add_histogram(x=v, nbinsx=60, marker_color=ACCENT, name="pairs")
    fig.update_xaxes(title="value (plays of one song by one user)")
    fig.update_yaxes(title="user–song pairs", type="log")
    return fig


def long_tail(item_counts: np.ndarray) -> go.Figure:
    """Songs ranked by popularity (listeners), log scale: the long tail."""
    c = np.sort(np.asarray(item_counts))[::-1]
    fig = _fig("Long tail: songs by popularity")
    if len(c) == 0:
        return fig
    ranks = np.arange(1, len(c) + 1)
    if len(c) > 5000:  # log-spaced sample keeps the shape and the browser light
        pick = np.unique(np.geomspace(1, len(c), 5000).astype(np.int64)) - 1
        ranks, c = ranks[pick], c[pick]
    fig.add_scatter(x=ranks, y=c, mode="lines", line=dict(color=ACCENT), fill="tozeroy",
                    name="listeners", hovertemplate="rank %{x:,}: %{y:,} listeners<extra></extra>")
    fig.update_xaxes(title="song rank (most popular first)", type="log")
    fig.update_yaxes(title="listeners (users with ≥ 1 play)", type="log")
    return fig


def per_subject_hist(per_subject, what: str) -> go.Figure:
    fig = _fig(f"Distribution over {what}", barmode="overlay")
    for col, color in (("precision", ACCENT), ("recall", SECOND)):
        if col in per_subject:
            fig.add_histogram(x=per_subject[col], name=col, marker_color=color, opacity=0.6,
                              xbins=dict(start=0, end=1.0001, size=0.05))
    fig.update_xaxes(title="value for one subject", range=[0, 1.02])
    fig.update_yaxes(title=what)
    return fig


def metric_vs_k(ks: list[int], precision: list[float], recall: list[float],
                ndcg: list[float] | None, k_marked: int) -> go.Figure:
    fig = _fig("precision@k and recall@k against k")
    fig.add_scatter(x=ks, y=precision, mode="lines+markers", name="precision@k",
                    line=dict(color=ACCENT))
    fig.add_scatter(x=ks, y=recall, mode="lines+markers", name="recall@k",
                    line=dict(color=SECOND))
    if ndcg is not None and any(x is not None and math.isfinite(x) for x in ndcg):
        fig.add_scatter(x=ks, y=_finite(ndcg), mode="lines+markers", name="NDCG@k",
                        line=dict(color=GREY, dash="dot"))
    fig.add_vline(x=k_marked, line=dict(color=GREY, dash="dash"))
    fig.update_xaxes(title="k")
    fig.update_yaxes(title="mean over subjects", rangemode="tozero")
    return fig


def rmse_bars(rows: list[tuple[str, float]]) -> go.Figure:
    fig = _fig("Validation RMSE: model against baselines", showlegend=False)
    names = [r[0] for r in rows]
    vals = [r[1] for r in rows]
    colors = [ACCENT if n.startswith("model") else GREY for n in names]
    fig.add_bar(x=vals, y=names, orientation="h", marker_color=colors,
                text=[f"{v:.4f}" for v in vals], textposition="auto",
                hovertemplate="%{y}: %{x:.4f}<extra></extra>")
    fig.update_xaxes(title="RMSE (lower is better)", rangemode="tozero")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=80 + 45 * len(rows))
    return fig


def song_map(coords: np.ndarray, popularity: np.ndarray, labels: list[str],
             explained: np.ndarray, highlight: np.ndarray | None = None) -> go.Figure:
    fig = _fig("Song factors, first two principal components", height=560)
    logpop = np.log10(np.maximum(popularity, 1))
    fig.add_scattergl(
        x=coords[:, 0], y=coords[:, 1], mode="markers", text=labels, customdata=popularity,
        marker=dict(size=5, color=logpop, colorscale="Viridis", opacity=0.75,
                    colorbar=dict(title="log₁₀ listeners")),
        hovertemplate="%{text}<br>%{customdata:,} listeners<extra></extra>", name="songs")
    if highlight is not None and len(highlight):
        fig.add_scattergl(x=coords[highlight, 0], y=coords[highlight, 1], mode="markers",
                          marker=dict(size=12, color="rgba(0,0,0,0)",
                                      line=dict(color=SECOND, width=2)),
                          text=[labels[i] for i in highlight], name="selected",
                          hovertemplate="%{text}<extra>selected</extra>")
    fig.update_xaxes(title=f"PC 1 ({explained[0]:.0%} of variance)", zeroline=False)
    fig.update_yaxes(title=f"PC 2 ({explained[1]:.0%} of variance)", zeroline=False)
    fig.update_layout(showlegend=False)
    return fig

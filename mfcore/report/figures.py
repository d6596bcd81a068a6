"""The plotly figures of one run, a dataset, an evaluation and the song map.

The dashboard's pages draw them (built fresh on every run; the pages give each a fixed key) and
the HTML reports (:mod:`.html`) embed them; the sweep figures are in :mod:`.sweeps`. Per-epoch
histories may hold :class:`~mfcore.model.EpochStats` or their dicts (as the run store returns).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from ..values import whole_numbers
from .style import ACCENT, GREY, SECOND, field, finite_values, new_figure

__all__ = ["loss_curve", "rmse_curve", "ranking_curve", "runs_overlay_figure",
           "value_distribution", "long_tail", "per_subject_hist", "metric_vs_k", "rmse_bars",
           "song_map"]


def _mode(n: int) -> str:
    return "lines+markers" if n <= 60 else "lines"


def _epochs_axis(fig, epochs: list[int]) -> None:
    fig.update_xaxes(title="epoch", rangemode="tozero")
    if len(epochs) < 2:
        fig.update_xaxes(range=[0, max(epochs + [1]) + 1])


def _best_line(fig, best_epoch: int | None) -> None:
    if best_epoch:
        fig.add_vline(x=best_epoch, line=dict(color=GREY, dash="dot"),
                      annotation_text="best", annotation_position="top left")


def _curve(fig, history: Sequence, name: str, label: str, color: str) -> None:
    epochs = [int(field(h, "epoch")) for h in history]
    fig.add_scatter(x=epochs, y=finite_values(field(h, name) for h in history),
                    mode=_mode(len(epochs)), name=label, line=dict(color=color),
                    marker=dict(size=4))


def _readable_y(fig) -> None:
    """A y axis that reads well when every point has (nearly) one value, e.g. a single epoch:
    plotly would zoom into the rounding noise and label ticks "10.835546M, 10.8355455M"; the
    axis then spans ±5% around the value instead."""
    ys = [y for trace in fig.data for y in (trace.y or ()) if y is not None]
    if not ys:
        return
    lo, hi = min(ys), max(ys)
    mid = (lo + hi) / 2
    if hi - lo <= 1e-6 * max(abs(mid), 1e-12):
        half = 0.05 * abs(mid) or 1.0
        fig.update_yaxes(range=[mid - half, mid + half])


LOSS_AXIS = {"sgd": "Σ e² + λ(‖p‖² + ‖q‖² + b²)", "als": "Σ c(p − x·y)² + λ(‖x‖² + ‖y‖²)"}


def loss_curve(history: Sequence, solver: str = "sgd"):
    """The regularised training loss after every epoch (``solver`` names the objective)."""
    fig = new_figure("Regularised training loss")
    _curve(fig, history, "loss", "loss", ACCENT)
    fig.update_yaxes(title=LOSS_AXIS.get(solver, LOSS_AXIS["sgd"]))
    _readable_y(fig)
    _epochs_axis(fig, [int(field(h, "epoch")) for h in history])
    return fig


def rmse_curve(history: Sequence, best_epoch: int | None = None):
    """Train RMSE, and validation RMSE when there is one, after every epoch."""
    fig = new_figure("RMSE per epoch")
    _curve(fig, history, "train_rmse", "train", ACCENT)
    if any(v is not None for v in finite_values(field(h, "val_rmse") for h in history)):
        _curve(fig, history, "val_rmse", "validation", SECOND)
    _best_line(fig, best_epoch)
    fig.update_yaxes(title="RMSE = √mean e²")
    _readable_y(fig)
    _epochs_axis(fig, [int(field(h, "epoch")) for h in history])
    return fig


def ranking_curve(history: Sequence, k: int, best_epoch: int | None = None):
    """precision@k, recall@k and NDCG@k of the validation sample after every epoch."""
    fig = new_figure(f"Validation ranking @{k} per epoch")
    for name, color in (("ndcg", ACCENT), ("precision", SECOND), ("recall", GREY)):
        _curve(fig, history, name, f"{name}@{k}" if name != "ndcg" else f"NDCG@{k}", color)
    _best_line(fig, best_epoch)
    fig.update_yaxes(title="mean over the validation sample", rangemode="tozero")
    _epochs_axis(fig, [int(field(h, "epoch")) for h in history])
    return fig


def runs_overlay_figure(histories, labels: Mapping[int, str] | None = None, *,
                        metric: str = "val_rmse"):
    """Several runs' per-epoch ``metric`` (loss, train_rmse, val_rmse) on one plot.

    ``histories`` is long format (``run_id``, ``epoch``, metric columns), as
    :meth:`~mfcore.runstore.RunHistory.histories` returns.
    """
    names = {"loss": "Training loss", "train_rmse": "Train RMSE", "val_rmse": "Validation RMSE"}
    fig = new_figure(f"{names.get(metric, metric)} per epoch")
    for run_id, g in histories.groupby("run_id", sort=True):
        label = (labels or {}).get(int(run_id), f"run {int(run_id)}")
        fig.add_scatter(x=g["epoch"].tolist(), y=finite_values(g[metric]), mode="lines+markers",
                        name=label, marker=dict(size=4))
    fig.update_xaxes(title="epoch", rangemode="tozero")
    fig.update_yaxes(title=names.get(metric, metric))
    return fig


#: Title, x-axis and y-axis of the value distribution, by kind of data.
_VALUE_AXES = {
    "ratings": ("Rating distribution", "rating", "ratings"),
    "counts": ("Play-count distribution", "plays of one song by one user", "user–song pairs"),
    "binary": ("Value distribution", "times a track is listed by one user or playlist",
               "user–track pairs"),
}


def value_distribution(values: np.ndarray, kind: str = "counts"):
    """Histogram of the values as loaded, for the kind of data (see
    :attr:`mfcore.interactions.Interactions.kind`): one bar per rating on a linear axis for
    ratings; integer bins up to a cap on a log axis for play counts and presence-only data."""
    v = np.asarray(values)
    name, x_title, y_title = _VALUE_AXES.get(kind, _VALUE_AXES["counts"])
    fig = new_figure(name)
    fig.update_xaxes(title=x_title)
    if len(v) == 0:
        return fig
    if kind == "ratings":
        levels, counts = np.unique(v, return_counts=True)
        if len(levels) <= 21:  # a scale (1–5, 0.5–5 in halves, 1–10): one bar per rating
            fig.add_bar(x=levels.tolist(), y=counts.tolist(), marker_color=ACCENT, name="ratings",
                        hovertemplate="rating %{x}: %{y:,} ratings<extra></extra>")
            fig.update_xaxes(tickmode="array", tickvals=levels.tolist())
        else:
            fig.add_histogram(x=v, nbinsx=40, marker_color=ACCENT, name="ratings")
        fig.update_yaxes(title=y_title, rangemode="tozero")
        return fig
    if v.min() >= 0 and whole_numbers(v):
        # Every whole value counted (the MSD's largest play count is 9,667), so the 99.5th
        # percentile is np.percentile's; beyond 2**24 the column is sorted as np.percentile does.
        top = int(v.max())
        counts = _capped_counts(v, min(top, 1 << 24))
        p995 = _percentile_of_counts(counts, 99.5) if top <= 1 << 24 else np.percentile(v, 99.5)
        cap = int(min(p995, 200))
        counts = np.append(counts[:cap + 1], counts[cap + 1:].sum())
        counts = np.trim_zeros(counts, "b")
        xs = np.arange(len(counts))
        keep = counts > 0
        fig.add_bar(x=xs[keep], y=counts[keep], marker_color=ACCENT, name="pairs",
                    hovertemplate="value %{x}: %{y:,} pairs<extra></extra>")
        if v.max() > cap:
            fig.add_annotation(x=cap + 1, y=math.log10(max(counts[cap + 1], 1)), yref="y",
                               text=f"> {cap}", showarrow=True, arrowhead=2, ax=0, ay=-30)
    else:
        fig.add_histogram(x=v, nbinsx=60, marker_color=ACCENT, name="pairs")
    fig.update_yaxes(title=y_title, type="log")
    return fig


def _capped_counts(v: np.ndarray, top: int, chunk: int = 1 << 20) -> np.ndarray:
    """Rows of each whole value 0..top, values above ``top`` counted as ``top`` (a slice at a
    time: 48M play counts need no float64 or int64 copy of the column)."""
    out = np.zeros(top + 1, dtype=np.int64)
    for a in range(0, len(v), chunk):
        out += np.bincount(np.minimum(v[a:a + chunk], top).astype(np.int32), minlength=top + 1)
    return out


def _percentile_of_counts(counts: np.ndarray, q: float) -> float:
    """``np.percentile`` (linear) of the values whose histogram is ``counts``."""
    cum = np.cumsum(counts)
    pos = (cum[-1] - 1) * q / 100.0
    lo, hi = int(np.floor(pos)), int(np.ceil(pos))
    v_lo, v_hi = (int(np.searchsorted(cum, j, side="right")) for j in (lo, hi))
    return v_lo + (v_hi - v_lo) * (pos - lo)


def long_tail(item_counts: np.ndarray, *, item: str = "song", fans: str = "listeners"):
    """Items ranked by popularity (``fans`` each), log scale: the long tail."""
    c = np.sort(np.asarray(item_counts))[::-1]
    fig = new_figure(f"Long tail: {item}s by popularity")
    if len(c) == 0:
        return fig
    ranks = np.arange(1, len(c) + 1)
    if len(c) > 5000:  # log-spaced sample keeps the shape and the browser light
        pick = np.unique(np.geomspace(1, len(c), 5000).astype(np.int64)) - 1
        ranks, c = ranks[pick], c[pick]
    fig.add_scatter(x=ranks, y=c, mode="lines", line=dict(color=ACCENT), fill="tozeroy",
                    name=fans, hovertemplate=f"rank %{{x:,}}: %{{y:,}} {fans}<extra></extra>")
    fig.update_xaxes(title=f"{item} rank (most popular first)", type="log")
    fig.update_yaxes(title=fans, type="log")
    return fig


def per_subject_hist(per_subject, what: str):
    fig = new_figure(f"Distribution over {what}", barmode="overlay")
    for col, color in (("precision", ACCENT), ("recall", SECOND)):
        if col in per_subject:
            fig.add_histogram(x=per_subject[col], name=col, marker_color=color, opacity=0.6,
                              xbins=dict(start=0, end=1.0001, size=0.05))
    fig.update_xaxes(title="value for one subject", range=[0, 1.02])
    fig.update_yaxes(title=what)
    return fig


def metric_vs_k(ks: list[int], precision: list[float], recall: list[float],
                ndcg: list[float] | None, k_marked: int):
    fig = new_figure("precision@k and recall@k against k")
    fig.add_scatter(x=ks, y=precision, mode="lines+markers", name="precision@k",
                    line=dict(color=ACCENT))
    fig.add_scatter(x=ks, y=recall, mode="lines+markers", name="recall@k",
                    line=dict(color=SECOND))
    if ndcg is not None and any(x is not None and math.isfinite(x) for x in ndcg):
        fig.add_scatter(x=ks, y=finite_values(ndcg), mode="lines+markers", name="NDCG@k",
                        line=dict(color=GREY, dash="dot"))
    fig.add_vline(x=k_marked, line=dict(color=GREY, dash="dash"))
    fig.update_xaxes(title="k")
    fig.update_yaxes(title="mean over subjects", rangemode="tozero")
    return fig


def rmse_bars(rows: list[tuple[str, float]]):
    fig = new_figure("Validation RMSE: model against baselines", showlegend=False)
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
             explained: np.ndarray, highlight: np.ndarray | None = None):
    fig = new_figure("Song factors, first two principal components", height=560)
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

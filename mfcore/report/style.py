"""The one palette and figure layout of the dashboard's pages and the HTML reports."""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..values import finite

ACCENT = "#4F46E5"
SECOND = "#F97316"
GREY = "#94A3B8"
BEST = "#16A34A"

LAYOUT = dict(template="plotly_white", margin=dict(l=10, r=10, t=64, b=10), height=340,
              legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
              font=dict(size=12))


def title(text: str) -> dict:
    """A figure title at the top left, clear of the legend."""
    return dict(text=text, x=0, y=0.98, yref="container", yanchor="top", font=dict(size=14))


def new_figure(text: str, **layout):
    """An empty plotly figure with the shared layout (``layout`` overrides it) and a title."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(title=title(text), **{**LAYOUT, **layout})
    return fig


def finite_values(xs: Iterable) -> list:
    """``xs`` with None for every value that is absent, NaN or infinite (a gap in a line)."""
    return [finite(x) for x in xs]


def field(h, name: str):
    """``name`` of one epoch, given as :class:`~mfcore.model.EpochStats` or as its dict."""
    return h.get(name) if isinstance(h, Mapping) else getattr(h, name, None)

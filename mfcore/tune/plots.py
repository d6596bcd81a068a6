"""A study's figures (Optuna's plotly plots, on the chosen objective) and its HTML report.

Each function takes a :class:`~mfcore.tune.SweepResult` — finished, reopened from the run store,
or one assembled from the trials finished so far while the study runs — and draws it from the
equivalent Optuna study (:func:`mfcore.tune.study.study_of`): the optimisation history (pruned
trials marked at their last reported figure, the popularity baseline as a dashed line on a
ranking objective), the parameter importances, slice plots and parallel coordinates.
"""
from __future__ import annotations

import html
import warnings

import pandas as pd

from ..values import fmt
from .results import SweepResult
from .study import study_of

__all__ = ["history_figure", "importance_figure", "slice_figure", "parallel_figure",
           "study_figures", "study_report_html"]

_GREY = "#94a3b8"


def _varied(result: SweepResult) -> list[str]:
    searched = result.meta.get("searched") or result.searched
    return [p for p in searched
            if len({repr(t.params.get(p)) for t in result.trials if t.state == "complete"}) > 1]


def _quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


def history_figure(result: SweepResult, study=None):
    """The objective of each trial and the best so far; pruned trials in grey; popularity."""
    from optuna.visualization import plot_optimization_history

    spec = result.objective_spec
    fig = _quiet(plot_optimization_history, study or study_of(result), target_name=spec.label)
    pruned = [t for t in result.trials if t.state == "pruned" and t.value is not None]
    if pruned:
        fig.add_scatter(x=[t.number for t in pruned], y=[t.value for t in pruned],
                        mode="markers", name="Pruned (last epoch reported)",
                        marker=dict(color=_GREY, symbol="x", size=8))
    ref = (result.meta.get("reference") or {}).get("popularity")
    if ref is not None:
        fig.add_hline(y=ref, line_dash="dash", line_color="#dc2626",
                      annotation_text=f"popularity {fmt(ref)}", annotation_position="top left")
    fig.update_layout(title=f"Optimisation history: {spec.label}")
    return fig


def importance_figure(result: SweepResult, study=None):
    """Each varied hyperparameter's importance to the objective (PED-ANOVA); None when it
    cannot be estimated yet (fewer than 3 complete trials)."""
    from optuna.visualization import plot_param_importances

    params = _varied(result)
    if not result.importance or not params:
        return None
    spec = result.objective_spec
    try:
        fig = _quiet(plot_param_importances, study or study_of(result), params=params,
                     target_name=spec.label)
    except (RuntimeError, ValueError):
        return None
    fig.update_layout(title=f"Hyperparameter importance for {spec.label}")
    return fig


def slice_figure(result: SweepResult, study=None):
    """The objective against each searched hyperparameter (one panel each)."""
    from optuna.visualization import plot_slice

    spec = result.objective_spec
    fig = _quiet(plot_slice, study or study_of(result), params=_varied(result) or None,
                 target_name=spec.label)
    fig.update_layout(title=f"{spec.label} against each hyperparameter")
    return fig


def parallel_figure(result: SweepResult, study=None):
    """Parallel coordinates of the complete trials: the hyperparameters, then the objective."""
    from optuna.visualization import plot_parallel_coordinate

    spec = result.objective_spec
    fig = _quiet(plot_parallel_coordinate, study or study_of(result),
                 params=_varied(result) or None, target_name=spec.label)
    fig.update_layout(title="All complete trials, parallel coordinates")
    return fig


def study_figures(result: SweepResult) -> dict:
    """Name → figure of every figure that can be drawn now (the study is rebuilt once)."""
    study = study_of(result)
    out = {"history": history_figure(result, study)}
    if any(t.state == "complete" for t in result.trials):
        imp = importance_figure(result, study)
        if imp is not None:
            out["importance"] = imp
        out["slice"] = slice_figure(result, study)
        out["parallel"] = parallel_figure(result, study)
    return out


_CSS = ("body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#0f172a;"
        "padding:0 1rem}table{border-collapse:collapse;font-size:.85rem}th,td{border:1px solid "
        "#e2e8f0;padding:.2rem .5rem;text-align:left}th{background:#f8fafc}"
        "tr.best td{background:#dcfce7;font-weight:600}.sub{color:#64748b}")


def study_report_html(result: SweepResult) -> str:
    """The study as one self-contained HTML page (plotly.js inlined once, no external file)."""
    spec = result.objective_spec
    meta = result.meta
    counts = result.counts()
    sub = (f"{result.sampler} sampler · {meta.get('pruner', 'none')} pruner · "
           f"{len(result.trials)} trials ({counts['complete']} complete, {counts['pruned']} "
           f"pruned, {counts['failed']} failed) · {result.wall_seconds:.1f} s · "
           f"objective {spec.label} ({spec.direction})")
    parts = [f"<h1>Study {html.escape(result.sweep_id)}</h1>",
             f'<p class="sub">{html.escape(sub)}</p>']
    if result.best:
        parts.append("<h2>Best trial</h2>" + _table(pd.DataFrame(
            [{"trial": result.best["number"] + 1, **result.best["params"],
              spec.label: result.best["value"]}])))
    first = True
    for fig in study_figures(result).values():
        parts.append(fig.to_html(full_html=False, include_plotlyjs=first))
        first = False
    frame = result.trials_frame()
    best_no = result.best["number"] + 1 if result.best else None
    parts.append("<h2>All trials</h2>" + _table(frame, best_no))
    fixed = meta.get("fixed_params") or {}
    parts.append("<h2>Fixed settings</h2>" + _table(pd.DataFrame(
        {"setting": list(fixed), "value": [str(v) for v in fixed.values()]})))
    parts.append("<h2>Search space</h2>" + _table(pd.DataFrame(
        {"hyperparameter": list(meta.get("space") or {}),
         "entry": list((meta.get("space") or {}).values())})))
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>MF Explorer — study "
            f"{html.escape(result.sweep_id)}</title><style>{_CSS}</style></head><body>"
            + "".join(parts) + "</body></html>\n")


def _table(frame: pd.DataFrame, best_no: int | None = None) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = []
    for _, r in frame.iterrows():
        cls = ' class="best"' if best_no is not None and r.get("trial") == best_no else ""
        cells = "".join(f"<td>{html.escape(fmt(v) if isinstance(v, float) else str(v))}</td>"
                        for v in r)
        rows.append(f"<tr{cls}>{cells}</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"

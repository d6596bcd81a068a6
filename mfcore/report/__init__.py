"""Everything the project draws: plotly figures, one palette, self-contained HTML reports.

- :mod:`.style`: the palette (``ACCENT``, ``SECOND``, ``GREY``, ``BEST``) and the shared layout;
- :mod:`.figures`: one run's curves, a dataset's distributions, an evaluation, the song map;
- :mod:`.projection`: the 2-D map of the item factors the song map draws;
- :mod:`.html`: a run as one HTML file (no server, no network).

A tuning study's figures are Optuna's (:mod:`mfcore.tune.plots`), in the same palette.

The dashboard's pages and the command line's reports use these, so a figure looks the same
wherever it is shown.
"""
from .figures import (long_tail, loss_curve, metric_vs_k, per_subject_hist, ranking_curve,
                      rmse_bars, rmse_curve, runs_overlay_figure, song_map, value_distribution)
from .html import run_report_html
from .projection import item_map_2d

__all__ = ["item_map_2d", "long_tail", "loss_curve", "metric_vs_k", "per_subject_hist",
           "ranking_curve", "rmse_bars", "rmse_curve", "run_report_html", "runs_overlay_figure",
           "song_map", "value_distribution"]

"""What a study optimises: the validation RMSE, or precision / recall / NDCG at k.

The objective names both figures a trial produces: the per-epoch value the training loop
measures (``EpochStats``: the RMSE over every validation row, the ranking metrics over the run's
fixed validation sample, ``docs/definitions.md``, "Ranking while training") — reported to Optuna
for pruning — and the final value of the trained model (:func:`mfcore.runs.score_run`: RMSE, or
the held-out ranking of the validation users), which is the trial's value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError
from ..train.presets import MONITOR_BY_KIND

__all__ = ["Objective", "RANKING", "parse_objective", "default_objective"]

#: Ranking objectives: name → (EpochStats field, RunRecord field).
RANKING = {"precision": ("precision", "precision_at_k"), "recall": ("recall", "recall_at_k"),
           "ndcg": ("ndcg", "ndcg_at_k")}
_LABELS = {"precision": "precision", "recall": "recall", "ndcg": "NDCG"}
_FORM = re.compile(r"^(precision|recall|ndcg)@(\d+)$")


@dataclass(frozen=True)
class Objective:
    """A study's objective.

    Attributes
    ----------
    name : {'val_rmse', 'precision', 'recall', 'ndcg'}
    k : int or None
        The cut-off of a ranking objective.
    """

    name: str
    k: int | None = None

    @property
    def ranking(self) -> bool:
        return self.name in RANKING

    @property
    def direction(self) -> str:
        """Optuna's direction: 'minimize' the RMSE, 'maximize' a ranking metric."""
        return "maximize" if self.ranking else "minimize"

    @property
    def epoch_field(self) -> str:
        """The :class:`~mfcore.model.EpochStats` field reported after every epoch."""
        return RANKING[self.name][0] if self.ranking else "val_rmse"

    @property
    def record_field(self) -> str:
        """The :class:`~mfcore.runs.RunRecord` field that is the trial's value."""
        return RANKING[self.name][1] if self.ranking else "val_rmse"

    @property
    def label(self) -> str:
        """For people: "validation RMSE", "NDCG@10"."""
        return f"{_LABELS[self.name]}@{self.k}" if self.ranking else "validation RMSE"

    def __str__(self) -> str:
        return f"{self.name}@{self.k}" if self.ranking else "val_rmse"

    def model_params(self) -> dict:
        """MFModel keywords that make the training loop watch this objective."""
        if self.ranking:
            return {"monitor": self.epoch_field, "eval_k": self.k}
        return {"monitor": "val_rmse"}

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` beats ``b``."""
        return a > b if self.ranking else a < b


def parse_objective(text: str | None, *, kind: str = "ratings", k: int = 10) -> Objective:
    """An objective from its text: 'val_rmse', 'precision@10', 'recall@5', 'ndcg@10'.

    ``None``, '' or 'auto' give the kind of data's default (:func:`default_objective`); a
    ranking name without ``@k`` takes ``k``. The names of the previous sweeps
    ('precision_at_k') are read too.

    Raises
    ------
    ConfigError
        Anything else, or k < 1.
    """
    text = (text or "auto").strip().lower()
    if text == "auto":
        return default_objective(kind, k=k)
    if text in ("val_rmse", "rmse"):
        return Objective("val_rmse")
    if text in RANKING or text in {v[1] for v in RANKING.values()}:
        text = f"{text.split('_at_')[0]}@{k}"
    m = _FORM.match(text)
    if not m or int(m.group(2)) < 1:
        raise ConfigError(f"--objective: expected val_rmse, precision@K, recall@K or ndcg@K "
                          f"(K >= 1), got {text!r}")
    return Objective(m.group(1), int(m.group(2)))


def default_objective(kind: str, *, k: int = 10) -> Objective:
    """The kind of data's: validation RMSE for ratings, NDCG@k for play counts and playlists
    (:data:`mfcore.train.presets.MONITOR_BY_KIND`)."""
    name = MONITOR_BY_KIND.get(kind, "val_rmse")
    return Objective(name, k) if name in RANKING else Objective("val_rmse")

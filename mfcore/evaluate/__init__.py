"""Evaluation: rating accuracy (RMSE/MAE, baselines) and ranking metrics (precision/recall/NDCG@k).

The exact definitions are those of ``docs/definitions.md``; see each module's docstring.
"""
from .accuracy import baselines, mae, rmse, score_predictions
from .ranking import RankingResult, evaluate_ranking, popularity_model

__all__ = ["RankingResult", "baselines", "evaluate_ranking", "mae", "popularity_model", "rmse",
           "score_predictions"]

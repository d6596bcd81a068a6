"""Evaluation: rating accuracy (RMSE/MAE, baselines) and ranking metrics (precision/recall/NDCG@k).

The exact definitions are those of ``shared/guides/definitions.md``; see each module's docstring.
"""
from .accuracy import baselines, mae, predict, rmse, score_predictions
from .ranking import PopularityModel, RankingResult, evaluate_folded, evaluate_ranking

__all__ = ["PopularityModel", "RankingResult", "baselines", "evaluate_folded", "evaluate_ranking", "mae", "predict",
           "rmse", "score_predictions"]

"""The song map's coordinates: item factors projected on their first two principal components."""
from __future__ import annotations

import numpy as np

__all__ = ["item_map_2d"]

_SLICE = 1 << 16


def item_map_2d(item_factors: np.ndarray, max_points: int | None = None,
                weights: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Project item factors on their first two principal components.

    Parameters
    ----------
    item_factors : (n_items, k) array
    max_points : int, optional
        Keep only this many items, the heaviest by ``weights`` (e.g. popularity) first.
    weights : (n_items,) array, optional

    Returns
    -------
    idx : indices of the items kept, coords : (len(idx), 2), explained : (2,) variance share
    """
    Q = np.asarray(item_factors)
    n = Q.shape[0]
    idx = np.arange(n)
    if max_points is not None and n > max_points:
        order = np.argsort(-weights, kind="stable") if weights is not None else idx
        idx = np.sort(order[:max_points])
    # The principal axes from the k × k scatter matrix, summed a slice of items at a time: the
    # SVD of the centred n × k matrix needed three float64 copies of it (0.8 GiB at 385k songs).
    mean = Q.mean(axis=0, dtype=np.float64)
    scatter = np.zeros((Q.shape[1], Q.shape[1]))
    for lo in range(0, n, _SLICE):
        X = Q[lo:lo + _SLICE].astype(np.float64) - mean
        scatter += X.T @ X
    if Q.shape[1] == 1:
        coords = np.column_stack([Q[:, 0] - mean[0], np.zeros(n)])
        return idx, coords[idx], np.array([1.0, 0.0])
    var, axes = np.linalg.eigh(scatter)
    var, axes = np.clip(var[::-1], 0.0, None), axes[:, ::-1]
    coords = np.concatenate([(Q[lo:lo + _SLICE].astype(np.float64) - mean) @ axes[:, :2]
                             for lo in range(0, n, _SLICE)]) if n else np.zeros((0, 2))
    explained = var[:2] / var.sum() if var.sum() > 0 else np.zeros(2)
    # Fix the sign of each axis so that the map does not flip between runs.
    signs = np.sign(coords[np.argmax(np.abs(coords), axis=0), [0, 1]])
    coords = coords * np.where(signs == 0, 1, signs)
    return idx, coords[idx], explained

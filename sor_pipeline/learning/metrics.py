"""Small prediction-quality metrics (no scikit-learn dependency). NaN when undefined."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata, spearmanr


def mae(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean absolute error, in the unit of ``y`` (bps for slippage)."""
    return float(np.mean(np.abs(np.asarray(y) - np.asarray(pred)))) if len(y) else float("nan")


def rmse(y: np.ndarray, pred: np.ndarray) -> float:
    """Root mean squared error, in the unit of ``y``."""
    return float(np.sqrt(np.mean((np.asarray(y) - np.asarray(pred)) ** 2))) if len(y) else float("nan")


def brier(y: np.ndarray, p: np.ndarray) -> float:
    """Brier score of probabilities ``p`` for 0/1 outcomes ``y`` (lower is better)."""
    return float(np.mean((np.asarray(p) - np.asarray(y)) ** 2)) if len(y) else float("nan")


def auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC by the rank-sum (Mann-Whitney) formula, ties averaged; NaN if one class only."""
    y = np.asarray(y).astype(bool)
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(score))
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation; NaN when constant or fewer than 2 points."""
    if len(a) < 2 or np.all(a == a[0]) or np.all(b == b[0]):
        return float("nan")
    return float(spearmanr(a, b).statistic)

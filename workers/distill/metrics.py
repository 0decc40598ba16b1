"""GLUE metrics with numpy only (no scipy/sklearn dependency for five formulas)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def accuracy(preds: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.asarray(preds) == np.asarray(labels))) if len(labels) else 0.0


def f1(preds: np.ndarray, labels: np.ndarray, positive: int = 1) -> float:
    """Binary F1 of the positive class (GLUE's MRPC/QQP convention)."""
    preds, labels = np.asarray(preds), np.asarray(labels)
    tp = float(np.sum((preds == positive) & (labels == positive)))
    fp = float(np.sum((preds == positive) & (labels != positive)))
    fn = float(np.sum((preds != positive) & (labels == positive)))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def matthews(preds: np.ndarray, labels: np.ndarray) -> float:
    """Matthews correlation for binary labels (CoLA); 0 when a row or column of the confusion matrix is empty."""
    preds, labels = np.asarray(preds), np.asarray(labels)
    tp = float(np.sum((preds == 1) & (labels == 1)))
    tn = float(np.sum((preds == 0) & (labels == 0)))
    fp = float(np.sum((preds == 1) & (labels == 0)))
    fn = float(np.sum((preds == 0) & (labels == 1)))
    denom = np.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return 0.0 if denom == 0 else float((tp * tn - fp * fn) / denom)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt(np.sum(xc * xc) * np.sum(yc * yc))
    return 0.0 if denom == 0 else float(np.sum(xc * yc) / denom)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties given their average rank, as Spearman's coefficient requires."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x), dtype=np.float64)
    sorted_x = x[order]
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and sorted_x[j + 1] == sorted_x[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    return pearson(_ranks(x), _ranks(y))


METRICS = {"accuracy": accuracy, "f1": f1, "matthews": matthews, "pearson": pearson, "spearman": spearman}


def compute_metrics(names: Sequence[str], preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """The task's metrics, in the task's order."""
    return {name: METRICS[name](preds, labels) for name in names}

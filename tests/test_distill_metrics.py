"""GLUE metrics against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from workers.distill.metrics import accuracy, compute_metrics, f1, matthews, pearson, spearman


def test_classification_metrics() -> None:
    preds = np.array([1, 1, 0, 0, 1])
    labels = np.array([1, 0, 0, 1, 1])
    assert accuracy(preds, labels) == pytest.approx(0.6)
    # tp=2 fp=1 fn=1 -> 4/6
    assert f1(preds, labels) == pytest.approx(4 / 6)
    # tp=2 tn=1 fp=1 fn=1 -> (2-1)/sqrt(3*3*2*2)
    assert matthews(preds, labels) == pytest.approx(1 / 6)
    assert matthews(np.ones(4), np.array([1, 0, 1, 0])) == 0.0


def test_correlations_with_ties() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert pearson(x, 2 * x + 1) == pytest.approx(1.0)
    assert spearman(x, x**3) == pytest.approx(1.0)
    # ranks of [1, 2, 2, 3] are [1, 2.5, 2.5, 4]
    assert spearman(np.array([1, 2, 2, 3]), np.array([1, 2.5, 2.5, 4])) == pytest.approx(1.0)
    assert pearson(np.ones(3), x[:3]) == 0.0


def test_compute_metrics_in_task_order() -> None:
    out = compute_metrics(("f1", "accuracy"), np.array([1, 0]), np.array([1, 1]))
    assert list(out) == ["f1", "accuracy"]
    # tp=1 fp=0 fn=1 -> precision 1, recall 1/2, f1 2/3; one of two right
    assert out == {"f1": pytest.approx(2 / 3), "accuracy": pytest.approx(0.5)}
    both = compute_metrics(("pearson", "spearman"), np.array([1.0, 2.0, 4.0]), np.array([1.0, 2.0, 3.0]))
    assert list(both) == ["pearson", "spearman"]
    assert both == {"pearson": pytest.approx(np.corrcoef([1, 2, 4], [1, 2, 3])[0, 1]), "spearman": pytest.approx(1.0)}

"""A model against the task it is scored on: regression or classes, how many, and in which order.

A model whose head does not fit the task is refused naming both; one that names the task's labels in another
order (a hub MNLI model) gets its logit columns put in the task's order, so gold label i meets logit i.
Generic (``LABEL_0``) or numeric names are taken in the model's order.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from shared.tasks import TaskPreset
from workers.deploy.errors import DeployError
from workers.deploy.loading import LoadedModel
from workers.deploy.predictors import Predictor
from workers.distill.label_order import LabelMismatch, task_label_order


def _head(labels: tuple[str, ...] | None) -> str:
    return "a regression head (one score)" if labels is None else f"{len(labels)} labels {list(labels)}"


def task_order(labels: tuple[str, ...] | None, preset: TaskPreset, where: Path | str) -> list[int] | None:
    """The logit columns in the task's label order (None: as they are); DeployError when the head cannot fit."""
    task = f"task {preset.name} has {_head(preset.labels)}"
    if (labels is None) != preset.is_regression or (labels is not None and len(labels) != preset.num_labels):
        raise DeployError(f"{where}: the model has {_head(labels)} but {task}")
    if labels is None or preset.labels is None:
        return None
    try:
        return task_label_order(labels, preset.labels)
    except LabelMismatch:
        raise DeployError(f"{where}: the model predicts labels {list(labels)} but {task}") from None


class ReorderedPredictor:
    """Another predictor's logits with their columns in the task's order."""

    def __init__(self, inner: Predictor, order: list[int]) -> None:
        self.inner, self.order = inner, order
        self.kind, self.input_names = inner.kind, inner.input_names

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.inner.logits(batch)[:, self.order]


def fit_to_task(model: LoadedModel, preset: TaskPreset) -> LoadedModel:
    """``model`` checked against ``preset``, its logits and label names in the task's order."""
    order = task_order(model.labels, preset, model.path)
    if order is None:
        return model
    return replace(model, predictor=ReorderedPredictor(model.predictor, order), labels=preset.labels)

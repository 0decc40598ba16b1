"""Logits for many rows, and the predictions and metrics that follow from them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from shared.tasks import TaskPreset
from workers.deploy.errors import DeployError
from workers.deploy.inputs import batches, pad_id
from workers.deploy.loading import LoadedModel
from workers.distill.data import Example
from workers.distill.metrics import compute_metrics


def predict_logits(
    model: LoadedModel,
    examples: Sequence[Example],
    batch_size: int,
    on_progress: Callable[[int], object] | None = None,
) -> np.ndarray:
    """Logits [N, labels] in the examples' order, in length-sorted batches; ``on_progress(rows)`` per batch."""
    if not examples:
        raise ValueError("no rows to predict")
    out: np.ndarray | None = None
    for idx, batch in batches(examples, batch_size, pad_id(model.tokenizer)):
        logits = model.predictor.logits(batch)
        if out is None:
            out = np.empty((len(examples), logits.shape[-1]), dtype=np.float32)
        out[idx] = logits
        if on_progress is not None:
            on_progress(len(idx))
    assert out is not None
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)


def predictions(logits: np.ndarray, regression: bool) -> np.ndarray:
    """Scores (regression) or class indices."""
    return logits[:, 0] if regression else logits.argmax(axis=-1)


def task_metrics(logits: np.ndarray, examples: Sequence[Example], preset: TaskPreset) -> dict[str, float]:
    """The task's GLUE metrics, computed by the distillation's own metric code (logits in the task's order)."""
    if logits.shape[-1] != preset.num_labels:
        raise DeployError(
            f"the model gives {logits.shape[-1]} output(s) per row but task {preset.name} has {preset.num_labels}"
        )
    labels = np.array([e.label for e in examples])
    return compute_metrics(preset.metrics, predictions(logits, preset.is_regression), labels)

"""Dev-set predictions and GLUE metrics for teacher and student alike."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from shared.tasks import TaskPreset
from workers.distill.data import Example, collate, sorted_batches
from workers.distill.metrics import compute_metrics


@torch.no_grad()
def predict_logits(
    model: torch.nn.Module,
    examples: Sequence[Example],
    batch_size: int,
    pad_id: int,
    device: torch.device,
    bf16: bool = False,
) -> torch.Tensor:
    """Logits [N, num_labels] in the examples' order, computed in length-sorted batches (little padding)."""
    was_training = model.training
    model.eval()
    out: torch.Tensor | None = None
    for idx in sorted_batches(examples, batch_size):
        batch = collate([examples[i] for i in idx], pad_id, device)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(**batch).logits.float()
        if out is None:
            out = torch.empty((len(examples), logits.size(-1)), dtype=torch.float32, device=device)
        out[torch.tensor(idx, device=device)] = logits
    model.train(was_training)
    assert out is not None, "no examples to predict"
    return out


def evaluate(
    model: torch.nn.Module,
    examples: Sequence[Example],
    preset: TaskPreset,
    batch_size: int,
    pad_id: int,
    device: torch.device,
    bf16: bool = False,
) -> dict[str, float]:
    """The task's GLUE metrics on labelled examples."""
    logits = predict_logits(model, examples, batch_size, pad_id, device, bf16).cpu().numpy()
    labels = np.array([e.label for e in examples])
    preds = logits[:, 0] if preset.is_regression else logits.argmax(axis=-1)
    return compute_metrics(preset.metrics, preds, labels)

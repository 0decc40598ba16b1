"""What differs between the two distillation stages: the loss, the attention kernels, the teacher's targets.

Stage 1 ("distill-intermediate") fits the student's embedding output, attention scores and hidden states to
the teacher's mapped layers, so both models run the score-capturing attention. Stage 2
("distill-prediction") fits the student's logits to the teacher's; no scores are needed, so both run SDPA,
and the teacher's logits are computed once per distinct input and reused by every later epoch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel

from workers.distill.attention_capture import enable_capture, pop_scores, use_eager_attention, use_fast_attention
from workers.distill.data import Example
from workers.distill.evaluate import predict_logits
from workers.distill.losses import LossWeights, Projections, intermediate_losses, regression_mse, soft_cross_entropy
from workers.distill.progress import STAGE_INTERMEDIATE
from workers.distill.step import LossParts

Batch = dict[str, torch.Tensor]
#: A stage's loss on one batch: (this rank's rows, their padded tensors) -> loss and its components.
StageLoss = Callable[[list[Example], Batch], LossParts]


@dataclass(frozen=True)
class Stage:
    """One stage's plan: how long, how fast, what it trains and with which loss."""

    index: int  # 0 or 1; also the tag that makes the two stages' batch orders differ
    name: str
    epochs: int
    lr: float
    trained: list[torch.nn.Module]  # what its optimiser updates
    synced: list[torch.nn.Module]  # trained modules outside DDP, whose gradients are averaged by hand
    loss: StageLoss


def intermediate_loss(
    teacher: torch.nn.Module,
    student: torch.nn.Module,
    projections: Projections,
    layer_map: list[int],
    weights: LossWeights,
    ddp: bool,
    rows: list[Example],
    batch: Batch,
) -> LossParts:
    """Stage 1: weighted embedding + attention + hidden losses against the teacher's mapped layers."""
    with torch.no_grad():
        t_out = teacher(**batch, output_hidden_states=True)
        t_scores = pop_scores(teacher)
    s_out = student(**batch, output_hidden_states=True)
    s_scores = pop_scores(student)
    parts = intermediate_losses(
        list(s_out.hidden_states),
        list(t_out.hidden_states),
        s_scores,
        t_scores,
        layer_map,
        projections,
        batch["attention_mask"],
    )
    loss = (
        weights.embedding * parts["embedding"]
        + weights.attention * parts["attention"]
        + weights.hidden * parts["hidden"]
    )
    if ddp:  # DDP needs every output's parameters in the graph: the classifier's (task) or pooler's (general)
        unused = getattr(s_out, "logits", None)
        unused = s_out.pooler_output if unused is None else unused
        if unused is not None:
            loss = loss + 0.0 * unused.float().sum()
    return loss, parts


def prediction_loss(
    student: torch.nn.Module,
    targets: TeacherLogits,
    regression: bool,
    temperature: float,
    weight: float,
    rows: list[Example],
    batch: Batch,
) -> LossParts:
    """Stage 2: soft cross-entropy against the teacher's logits (MSE against its prediction for regression)."""
    t_logits = targets(rows, batch)
    s_logits = student(**batch).logits
    part = regression_mse(s_logits, t_logits) if regression else soft_cross_entropy(s_logits, t_logits, temperature)
    return weight * part, {"prediction": part}


class TeacherLogits:
    """Stage 2's targets. With ``cache``: computed once per distinct input (in deterministic inference
    batches, see ``prepare``) and reused by later epochs; without (the plain baseline): at every step."""

    def __init__(
        self, teacher: PreTrainedModel, cache: bool, batch_size: int, pad_id: int, device: torch.device, bf16: bool
    ) -> None:
        self.teacher, self.cache = teacher, cache
        self.batch_size, self.pad_id, self.device, self.bf16 = batch_size, pad_id, device, bf16
        self.cached: dict[tuple[int, ...], torch.Tensor] = {}

    def prepare(self, examples: Sequence[Example]) -> None:
        """At an epoch start: the logits of inputs not seen before (rows that landed since join here)."""
        if not self.cache:
            return
        todo = list({e.key: e for e in examples if e.key not in self.cached}.values())
        if todo:
            logits = predict_logits(self.teacher, todo, self.batch_size, self.pad_id, self.device, self.bf16)
            self.cached.update({e.key: logits[i] for i, e in enumerate(todo)})

    def __call__(self, rows: list[Example], batch: Batch) -> torch.Tensor:
        if self.cache:
            return torch.stack([self.cached[e.key] for e in rows])
        with torch.no_grad():
            return self.teacher(**batch).logits.float()


def set_attention(model: PreTrainedModel, stage: str, fast: bool, layers: Sequence[int] | None = None) -> None:
    """Stage 1 captures the scores (of ``layers`` only, 0-based, when given); stage 2 runs SDPA, or eager
    attention for the plain baseline."""
    if stage == STAGE_INTERMEDIATE:
        enable_capture(model, layers)
    elif fast:
        use_fast_attention(model)
    else:
        use_eager_attention(model)

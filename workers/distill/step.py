"""One training step and the loss log, shared by fine-tuning and both distillation stages."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from workers.distill.optim import lr_factor

#: The loss to minimise and its named components (what the log and the progress events show).
LossParts = tuple[torch.Tensor, dict[str, torch.Tensor]]


@dataclass(frozen=True)
class StepRule:
    """How a step updates the weights: peak learning rate, its warm-up and decay, clipping, autocast."""

    lr: float
    warmup_ratio: float
    grad_clip: float
    bf16: bool = False  # bf16 autocast for the forward pass, on CUDA and CPU alike (fp32 weights and losses)


def train_step(
    forward_loss: Callable[[], LossParts],
    optimizer: torch.optim.Optimizer,
    modules: Sequence[torch.nn.Module],
    rule: StepRule,
    step: int,
    total_steps: int,
    sync_grads: Callable[[], None] | None = None,
) -> tuple[float, dict[str, float]]:
    """Forward and loss under autocast, backward, ``sync_grads`` (under DDP: average the gradients DDP does
    not), clip the gradients of ``modules``, one optimiser step at the scheduled learning rate.
    Returns the loss and its components as numbers."""
    for group in optimizer.param_groups:
        group["lr"] = rule.lr * lr_factor(step, total_steps, rule.warmup_ratio)
    device_type = next(modules[0].parameters()).device.type
    with torch.autocast(device_type, dtype=torch.bfloat16, enabled=rule.bf16):
        loss, parts = forward_loss()
    loss.backward()
    if sync_grads is not None:
        sync_grads()
    torch.nn.utils.clip_grad_norm_([p for m in modules for p in m.parameters() if p.grad is not None], rule.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach()), {k: float(v.detach()) for k, v in parts.items()}


@dataclass
class LossLog:
    """Losses averaged over windows of steps: one point per window is report.json's ``loss_history``."""

    history: list[dict[str, float]] = field(default_factory=list)
    window: dict[str, float] = field(default_factory=dict)  # running sums; "_n" counts the steps in them

    def add(self, values: dict[str, float], step: int, epoch: int, *, every: int, total_steps: int) -> None:
        """Add one step's values; close the window every ``every`` steps and at the last step."""
        for k, v in values.items():
            self.window[k] = self.window.get(k, 0.0) + v
        self.window["_n"] = self.window.get("_n", 0.0) + 1
        if step % every == 0 or step == total_steps:
            n = self.window.pop("_n")
            self.history.append({"step": step, "epoch": epoch, **{k: v / n for k, v in self.window.items()}})
            self.window.clear()

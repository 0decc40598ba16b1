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
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Forward and loss under autocast, backward, ``sync_grads`` (under DDP: average the gradients DDP does
    not), clip the gradients of ``modules``, one optimiser step at the scheduled learning rate.
    Returns the loss and its components as detached tensors on the device: reading them is a host sync,
    left to ``LossSums`` every few steps."""
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
    return loss.detach(), {k: v.detach() for k, v in parts.items()}


@dataclass
class LossLog:
    """Losses averaged over windows of steps: one point per window is report.json's ``loss_history``."""

    history: list[dict[str, float]] = field(default_factory=list)
    window: dict[str, float] = field(default_factory=dict)  # running sums; "_n" counts the steps in them

    def add(self, values: dict[str, float], step: int, epoch: int, *, every: int, total_steps: int) -> None:
        """Add one step's values; close the window every ``every`` steps and at the last step."""
        self.add_sums(values, 1, step, epoch, every=every, total_steps=total_steps)

    def add_sums(self, sums: dict[str, float], n: int, step: int, epoch: int, *, every: int, total_steps: int) -> None:
        """Add the sums of ``n`` steps ending at ``step``; close the window as ``add`` does."""
        for k, v in sums.items():
            self.window[k] = self.window.get(k, 0.0) + v
        self.window["_n"] = self.window.get("_n", 0.0) + n
        if step % every == 0 or step == total_steps:
            steps = self.window.pop("_n")
            self.history.append({"step": step, "epoch": epoch, **{k: v / steps for k, v in self.window.items()}})
            self.window.clear()


class LossSums:
    """Per-step losses summed where they were computed (the GPU), so a step needs no host sync: the sums
    are read, with one transfer, only when the loss log needs them (``drain``) or an event shows them."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.n = 0

    def add(self, values: dict[str, torch.Tensor]) -> None:
        for k, v in values.items():
            v64 = v.detach().to(torch.float64)
            self.sums[k] = self.sums[k] + v64 if k in self.sums else v64
        self.n += 1

    def read(self) -> dict[str, float]:
        """The sums as numbers (one host sync), left in place."""
        names = list(self.sums)
        return dict(zip(names, torch.stack([self.sums[k] for k in names]).tolist())) if names else {}

    def drain(self) -> tuple[dict[str, float], int]:
        """The sums and their step count, then start again from zero."""
        sums, n = self.read(), self.n
        self.sums, self.n = {}, 0
        return sums, n

    def report(
        self,
        log: LossLog,
        step: int,
        epoch: int,
        *,
        every: int,
        total_steps: int,
        flush: bool = False,
        first: bool = False,
        mean: Callable[[dict[str, float]], dict[str, float]] = dict,
    ) -> dict[str, float]:
        """The mean losses since the last read, for step ``step``'s progress event, read only when needed: the
        log window closes, ``flush`` (a checkpoint's log must hold every step so far), or ``first`` (watchers
        see a loss at once, without a drain that would regroup the log's sums); {} otherwise. ``mean``
        averages sums across ranks (all ranks read at the same steps)."""
        if flush or step % every == 0 or step == total_steps:
            window, n = self.drain()
            window = mean(window)
            log.add_sums(window, n, step, epoch, every=every, total_steps=total_steps)
            return {k: v / n for k, v in window.items()}
        if first and self.n:
            return {k: v / self.n for k, v in mean(self.read()).items()}
        return {}

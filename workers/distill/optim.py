"""Optimiser, learning-rate schedule and seeding, the same for fine-tuning and both distillation stages."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Python, numpy and torch generators (model init, dropout)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def lr_factor(step: int, total_steps: int, warmup_ratio: float) -> float:
    """Linear warm-up over the first ``warmup_ratio`` of the steps, then linear decay to zero."""
    warmup = max(1, int(warmup_ratio * total_steps))
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup))


def make_optimizer(
    modules: list[torch.nn.Module], lr: float, weight_decay: float, *, fused: bool = False
) -> torch.optim.AdamW:
    """AdamW; biases and LayerNorm weights (the 1-D parameters) get no weight decay.

    The fused implementation (one kernel for every parameter instead of several per tensor) on CUDA, and
    wherever ``fused`` asks for it: bf16 runs on the CPU, whose forward and backward passes are fast enough
    for the for-each update to be a noticeable share of a step. fp32 runs on the CPU keep the update they
    always had (same numbers as before bf16 existed).
    """
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    fused = fused or (bool(params) and all(p.is_cuda for p in params))
    return torch.optim.AdamW(groups, lr=lr, fused=fused or None)

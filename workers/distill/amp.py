"""The precision of a fine-tune or distillation run: the requested one resolved on the run's device, an
unsupported explicit bf16 turned into a user error (CLI exit 2, job error ``unsupported_precision``).

bf16 means autocast around the forward passes (teacher and student) and the evaluation; the student's
weights, its optimiser state and the losses stay fp32 (``step.py`` casts nothing).
"""

from __future__ import annotations

import torch

from shared.precision import PrecisionChoice
from workers.distill.errors import DistillError
from workers.precision import PrecisionError, resolve_precision


class UnsupportedPrecision(DistillError):
    """bf16 asked for on a device without it; the message names the device."""

    code = "unsupported_precision"


def training_precision(requested: str, device: torch.device) -> PrecisionChoice:
    """What the run on ``device`` uses and why; UnsupportedPrecision for an explicit bf16 it lacks."""
    try:
        return resolve_precision(requested, device)
    except PrecisionError as exc:
        raise UnsupportedPrecision(str(exc)) from None

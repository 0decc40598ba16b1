"""The precision of a fine-tune or distillation run: the requested one resolved on the run's device, an
unsupported explicit bf16 turned into a user error (CLI exit 2, job error ``unsupported_precision``).

bf16 means autocast around the forward passes (teacher and student) and the evaluation; the student's
weights, its optimiser state and the losses stay fp32 (``step.py`` casts nothing). The frozen teacher's
weights are cast to bf16 once the student is built from them (``frozen_teacher_in``): it is never updated,
and its forward passes then skip autocast's per-call weight casts.
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


def frozen_teacher_in(precision: PrecisionChoice, teacher: torch.nn.Module) -> torch.nn.Module:
    """The frozen teacher with bf16 weights under bf16 (after a teacher-initialised student has copied its fp32
    weights), unchanged under fp32."""
    return teacher.to(torch.bfloat16) if precision.bf16 else teacher

"""Resolve a requested precision for a concrete torch device: ``auto`` becomes bf16 where the device runs it
natively (CUDA with bf16 support, a CPU with AMX-BF16 or AVX512-BF16 flags), fp32 elsewhere; an explicit
``bf16`` on a device without it is a ``PrecisionError`` naming the device."""

from __future__ import annotations

import torch

from shared.precision import Detect, Precision, PrecisionChoice, PrecisionError, choose_precision, cpu_bf16_support
from shared.settings import get_settings

__all__ = ["PrecisionError", "device_bf16_support", "resolve_precision"]


def device_bf16_support(device: torch.device, detect: Detect = "auto") -> tuple[bool, str]:
    """(whether ``device`` runs bf16 natively, why); ``detect`` 'on'/'off' overrides the detection."""
    if device.type == "cuda":
        if detect != "auto":
            return detect == "on", f"bf16 detection forced {detect} (DISTILLERY_BF16_DETECT={detect})"
        name = torch.cuda.get_device_name(device)
        if torch.cuda.is_bf16_supported(including_emulation=False):
            return True, f"CUDA device {name} supports bf16"
        return False, f"CUDA device {name} has no native bf16"
    if device.type == "cpu":
        return cpu_bf16_support(detect)
    return False, f"bf16 is not used on {device.type} devices"


def resolve_precision(requested: str, device: torch.device | str, detect: Detect | None = None) -> PrecisionChoice:
    """The precision a run on ``device`` uses, and why; ``detect`` defaults to DISTILLERY_BF16_DETECT."""
    device = torch.device(device)
    if Precision(requested) == Precision.FP32:
        return choose_precision(requested, str(device), False, "")
    supported, why = device_bf16_support(device, detect or get_settings().bf16_detect)
    return choose_precision(requested, str(device), supported, why)

"""The precision contract, without torch: the values a user may ask for, the record of what was chosen and
why, and the CPU's bf16 support read from its flags.

The torch side (``workers.precision``) turns a request into a ``PrecisionChoice`` for a concrete device;
the API uses ``submission_problem`` to refuse an explicit ``bf16`` at submission where it can know the
workers lack it (see docs/precision.md for when that is).
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from shared.settings import Settings

#: CPU flags (Linux /proc/cpuinfo names) that mean native bf16 matrix instructions.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")

Detect = Literal["auto", "on", "off"]


class Precision(StrEnum):
    """What a run asks for: ``auto`` picks bf16 where the device runs it fast, fp32 elsewhere."""

    AUTO = "auto"
    FP32 = "fp32"
    BF16 = "bf16"


class PrecisionError(ValueError):
    """bf16 asked for on a device that has no bf16 support; the message names the device and why."""


class PrecisionChoice(BaseModel):
    """What a run used and why: CLI summaries, job results and report.json carry ``model_dump()``."""

    model_config = ConfigDict(frozen=True)

    precision: Literal["fp32", "bf16"]
    reason: str

    @property
    def bf16(self) -> bool:
        return self.precision == "bf16"


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (first ``flags`` line of /proc/cpuinfo); empty where there is none (not Linux)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def cpu_bf16_support(detect: Detect = "auto") -> tuple[bool, str]:
    """(whether this CPU runs bf16 natively, why we think so); ``detect`` 'on'/'off' overrides the flags."""
    if detect != "auto":
        return detect == "on", f"bf16 detection forced {detect} (DISTILLERY_BF16_DETECT={detect})"
    found = [flag for flag in BF16_CPU_FLAGS if flag in cpu_flags()]
    if found:
        return True, f"CPU flags {', '.join(found)}"
    return False, f"CPU has none of the flags {', '.join(BF16_CPU_FLAGS)}"


def choose_precision(requested: str, device: str, supported: bool, why: str) -> PrecisionChoice:
    """The precision a run on ``device`` uses given its bf16 support (``supported``, ``why``): torch-free, so the
    CLI can refuse an explicit bf16 before it imports torch; ``workers.precision`` detects CUDA's support."""
    asked = Precision(requested)
    if asked == Precision.FP32:
        return PrecisionChoice(precision="fp32", reason="fp32 asked for")
    if asked == Precision.BF16:
        if not supported:
            raise PrecisionError(f"bf16 asked for, but device {device} has no bf16 support ({why}); use auto or fp32")
        return PrecisionChoice(precision="bf16", reason=f"bf16 asked for; {device}: {why}")
    if supported:
        return PrecisionChoice(precision="bf16", reason=f"auto: {device} supports bf16 ({why})")
    return PrecisionChoice(precision="fp32", reason=f"auto: {device} has no bf16 support ({why})")


def submission_problem(precision: str, settings: Settings) -> str | None:
    """Why an explicit bf16 cannot run, when the API can know it; else None.

    The API knows only when the workers are pinned to the CPU (``DISTILLERY_DEVICE=cpu``) and run on
    this machine's kind of CPU (``distillery up`` and the compose file start them beside it). With
    ``auto`` or ``cuda`` devices a worker may have a GPU, so the worker decides and fails the job instead.
    """
    if precision != Precision.BF16 or settings.device != "cpu":
        return None
    supported, why = cpu_bf16_support(settings.bf16_detect)
    if supported:
        return None
    return f"bf16 asked for, but the workers' device cpu has no bf16 support ({why}); use auto or fp32"

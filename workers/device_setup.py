"""A worker process's device and thread budget, checked and applied once at start-up.

Why: a worker that names a GPU the machine lacks must fail when it starts, not on its first job; and W
workers on one machine must not each run torch (and numpy's BLAS) on every core, which made 2
augmentation workers on 2 cores slower than one. ``distillery up`` gives every worker its device and its
share of the cores (``services.cli.worker_plan``); ``distillery worker --device/--threads`` applies them.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

#: Environment variables the native thread pools (OpenMP, OpenBLAS, MKL) read when they load.
THREAD_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


class DeviceUnavailable(ValueError):
    """The device asked for does not exist on this machine; the message says what does."""


def check_device(name: str) -> str:
    """``name`` ('auto', 'cpu', 'cuda' or 'cuda:i') when it exists here; 'auto' stays 'auto'."""
    import torch

    if name in ("auto", "cpu"):
        return name
    try:
        device = torch.device(name)
    except RuntimeError:
        raise DeviceUnavailable(f"unknown device {name!r}; use auto, cpu or cuda[:i]") from None
    if device.type != "cuda":
        raise DeviceUnavailable(f"unsupported device {name!r}; use auto, cpu or cuda[:i]")
    count = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if count == 0:
        raise DeviceUnavailable(f"device {name!r} asked for, but CUDA is not available here")
    if device.index is not None and device.index >= count:
        have = "cuda:0" if count == 1 else f"cuda:0 to cuda:{count - 1}"
        raise DeviceUnavailable(f"device {name!r} asked for, but this machine has {count} GPU(s): {have}")
    return name


def resolve_device(name: str) -> str:
    """``name`` with 'auto' made concrete (CUDA when present, else the CPU); a device this machine lacks is a
    ``DeviceUnavailable``. The one rule every engine (augmentation, training) resolves its device by."""
    import torch

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return check_device(name)


def thread_env(threads: int) -> dict[str, str]:
    """The environment that caps the native thread pools of a child process at ``threads``."""
    return {name: str(threads) for name in THREAD_ENV}


def apply_threads(threads: int | None) -> int:
    """Cap this process's torch and BLAS threads at ``threads`` (None: leave torch's default); returns the
    number torch uses. Call before numpy is imported for the BLAS cap to hold."""
    if threads is not None:
        if threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        os.environ.update(thread_env(threads))  # an explicit budget wins over an inherited OMP_NUM_THREADS
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


def configure_cuda_attention(device: torch.device | str) -> None:
    """On a CUDA device, leave cuDNN's kernel out of torch's attention choices unless the
    ``cuda_cudnn_attention`` setting asks for it. Why: on an H200 (torch 2.11) torch picked it for bf16, and
    it builds an execution plan for each new (batch, length) shape; the MLM's equal-length batches and
    training's padded batches bring hundreds of shapes, and bf16 ran slower than fp32 (docs/gpu.md).
    Flash and memory-efficient attention have no per-shape set-up. Process-wide; a no-op on the CPU."""
    import torch

    from shared.settings import get_settings

    if torch.device(device).type == "cuda":
        torch.backends.cuda.enable_cudnn_sdp(get_settings().cuda_cudnn_attention)

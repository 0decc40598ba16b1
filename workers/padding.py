"""Ragged token rows to padded tensors in one tensor operation (no per-row Python loop of small copies),
shared by the training batches and the MLM's masked copies."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain

import torch

#: GPUs run matrix products fastest on sizes that are multiples of 8 (tensor cores).
GPU_LENGTH_MULTIPLE = 8


def pad_rows(
    rows: Sequence[Sequence[int]], fill: int, width: int | None = None, multiple_of: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(values, mask)``, both ``[len(rows), W]`` long tensors on the CPU: each row left-aligned, ``fill``
    after it, mask 1 on its own positions. W is ``width`` or the longest row, rounded up to ``multiple_of``."""
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    longest = width or int(lengths.max())
    longest = -(-longest // multiple_of) * multiple_of
    mask = torch.arange(longest) < lengths[:, None]
    values = torch.full((len(rows), longest), fill, dtype=torch.long)
    values[mask] = torch.tensor(list(chain.from_iterable(rows)), dtype=torch.long)
    return values, mask.long()


def length_multiple(device: torch.device) -> int:
    """The multiple batch lengths are padded to on ``device``: 8 on CUDA; 1 on the CPU, where the extra
    padding would only add work."""
    return GPU_LENGTH_MULTIPLE if device.type == "cuda" else 1

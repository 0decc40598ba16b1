"""Multi-GPU (or multi-process CPU) training of one run with torch's own launcher and DDP.

``torchrun --nproc-per-node G -m services.cli.main distill ...`` (or any script calling ``distill``) sets
WORLD_SIZE/RANK/LOCAL_RANK; ``Dist.from_env`` then joins the process group (NCCL on CUDA, gloo on CPU).
Every rank builds the same global batches (they are a pure function of the seed) and trains on its slice
of each; the student is wrapped in ``DistributedDataParallel`` (gradients averaged during backward), the
loss projections, called several times per step, get their gradients averaged explicitly. So G processes
with a global batch B follow the loss curve of one process with batch B. Rank 0 alone writes checkpoints,
the model and the report. With WORLD_SIZE unset or 1 every method is a no-op.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch
import torch.distributed as torch_dist

T = TypeVar("T")


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @classmethod
    def from_env(cls) -> Dist:
        """Join the process group torchrun describes in the environment (once per process)."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        if not torch_dist.is_initialized():
            torch_dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        return cls(torch_dist.get_rank(), torch_dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """On CUDA each rank takes the GPU of its local rank."""
        if self.enabled and device.type == "cuda":
            torch.cuda.set_device(self.local_rank)
            return torch.device("cuda", self.local_rank)
        return device

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DDP around the student (some parameters, e.g. the classifier in stage 1, get no gradient)."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        ids = [self.local_rank] if next(model.parameters()).device.type == "cuda" else None
        return DistributedDataParallel(model, device_ids=ids, find_unused_parameters=True)

    def shard(self, rows: Sequence[T]) -> list[T]:
        """This rank's slice of a global batch (never empty: a short last batch lends rows round-robin)."""
        if not self.enabled:
            return list(rows)
        mine = list(rows[self.rank :: self.world])
        return mine or [rows[self.rank % len(rows)]]

    def average_grads(self, modules: Sequence[torch.nn.Module]) -> None:
        """Average the gradients of modules that are not DDP-wrapped across ranks."""
        if not self.enabled:
            return
        for module in modules:
            for p in module.parameters():
                if p.grad is not None:
                    torch_dist.all_reduce(p.grad)
                    p.grad.div_(self.world)

    def mean(self, values: dict[str, float]) -> dict[str, float]:
        """Logged loss values averaged across ranks (so rank 0's history is the global curve)."""
        if not self.enabled or not values:
            return values
        names = sorted(values)
        on = torch.device("cuda", self.local_rank) if torch_dist.get_backend() == "nccl" else torch.device("cpu")
        t = torch.tensor([values[n] for n in names], dtype=torch.float64, device=on)
        torch_dist.all_reduce(t)
        return {n: float(v) / self.world for n, v in zip(names, t.tolist())}

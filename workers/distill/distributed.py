"""Multi-GPU (or multi-process CPU) training of one run with torch's own launcher and DDP.

``torchrun --nproc-per-node G -m services.cli.main distill ...`` (or any script calling ``distill``) sets
WORLD_SIZE/RANK/LOCAL_RANK; ``Dist.from_env`` then joins the process group with the backend of the run's
resolved device (NCCL for ``cuda``, gloo for ``cpu``: a ``--device cpu`` run on a CUDA machine must not use
NCCL, which only moves CUDA tensors), and ``close`` leaves it at the end of the run.
Every rank builds the same global batches (they are a pure function of the seed) and trains on its slice
of each; the student is wrapped in ``DistributedDataParallel`` (gradients averaged during backward), the
loss projections, called several times per step, get their gradients averaged explicitly. So G processes
with a global batch B follow the loss curve of one process with batch B. Rank 0 alone writes checkpoints,
the model and the report; every rank follows rank 0's decision to resume (``agree``), so checkpoints must
live on storage every node sees. With WORLD_SIZE unset or 1 every method is a no-op.
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
    owns_group: bool = False  # this object joined the process group, so ``close`` leaves it

    @classmethod
    def from_env(cls, device: torch.device) -> Dist:
        """Join the process group torchrun describes in the environment (once per process), with the backend
        that moves tensors of ``device``'s type."""
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        owns = not torch_dist.is_initialized()
        if owns:
            local_world = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
            torch_dist.init_process_group(backend_for(device, local_world, _gpu_count(device)))
        rank, world = torch_dist.get_rank(), torch_dist.get_world_size()
        return cls(rank, world, int(os.environ.get("LOCAL_RANK", "0")), owns)

    def close(self) -> None:
        """Leave the process group this object joined (torchrun warns about, and NCCL may hang on, a group
        left open at exit)."""
        if self.owns_group and torch_dist.is_initialized():
            torch_dist.destroy_process_group()

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        """On CUDA each rank takes the GPU of its local rank (ranks share GPUs round-robin when a node runs
        more ranks than it has GPUs)."""
        if self.enabled and device.type == "cuda":
            index = self.local_rank % max(1, torch.cuda.device_count())
            torch.cuda.set_device(index)
            return torch.device("cuda", index)
        return device

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """DDP around the student (some parameters, e.g. the classifier in stage 1, get no gradient)."""
        if not self.enabled:
            return model
        from torch.nn.parallel import DistributedDataParallel

        where = next(model.parameters()).device
        ids = [where.index] if where.type == "cuda" else None
        # every parameter gets a gradient: stage 1 adds the classifier's logits times zero to the loss
        return DistributedDataParallel(model, device_ids=ids)

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
        t = torch.tensor([values[n] for n in names], dtype=torch.float64, device=self._comm_device())
        torch_dist.all_reduce(t)
        return {n: float(v) / self.world for n, v in zip(names, t.tolist())}

    def agree(self, decision: bool) -> bool:
        """Rank 0's ``decision`` on every rank (whether to resume: only rank 0 writes checkpoints, and a rank
        on another node may see an older file, or none)."""
        if not self.enabled:
            return decision
        t = torch.tensor([1 if decision else 0], dtype=torch.int64, device=self._comm_device())
        torch_dist.broadcast(t, src=0)
        return bool(t.item())

    def gather(self, value: T) -> list[T]:
        """Every rank's ``value`` (a picklable object), in rank order, on every rank."""
        if not self.enabled:
            return [value]
        values: list[T] = [value] * self.world
        torch_dist.all_gather_object(values, value)
        return values

    def _comm_device(self) -> torch.device:
        """Where collective tensors live: the rank's GPU under NCCL, else the CPU."""
        if torch_dist.get_backend() == "nccl":
            return torch.device("cuda", torch.cuda.current_device())
        return torch.device("cpu")


def backend_for(device: torch.device, ranks_per_node: int = 1, gpus: int = 1) -> str:
    """The process-group backend for a run on ``device``: NCCL for CUDA tensors, gloo for CPU tensors, and
    gloo too when a node runs more ranks than it has GPUs (NCCL refuses two ranks on one GPU; gloo moves
    CUDA tensors through the host)."""
    if device.type != "cuda":
        return "gloo"
    return "nccl" if ranks_per_node <= gpus else "gloo"


def _gpu_count(device: torch.device) -> int:
    return torch.cuda.device_count() if device.type == "cuda" and torch.cuda.is_available() else 0

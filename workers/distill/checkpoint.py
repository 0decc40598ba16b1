"""One checkpoint file per run: everything needed to continue a killed run to the same weights."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared.atomic import atomic_write
from workers.distill.step import LossLog


@dataclass
class TrainState:
    """Where a distillation stands. Saved with the weights, the optimiser and the RNG states it is the
    checkpoint, and a run that starts from it continues exactly where the saved one was."""

    stage_index: int = 0  # the stage in progress: 0 = stage 1, 1 = stage 2, 2 = both done
    epoch: int = 0  # the stage's current epoch
    batch: int = 0  # the next batch of that epoch (0: the epoch has not started)
    step: int = 0  # optimiser steps done in the stage
    total_steps: int = 0  # the stage's estimated steps (re-estimated at each epoch start)
    seconds: float = 0.0  # time spent in the stage until the last save
    log: LossLog = field(default_factory=LossLog)  # the stage's loss history
    teacher_dev: dict[str, float] = field(default_factory=dict)
    student_dev: dict[str, float] = field(default_factory=dict)  # after the latest stage-2 epoch
    stages: list[dict[str, Any]] = field(default_factory=list)  # report.json's entries of the finished stages
    # the train files the epoch in progress read: a resumed epoch reads these, not the shards that landed since,
    # so ``batch`` indexes the same batches
    epoch_files: list[str] = field(default_factory=list)

    def next_stage(self, finished: dict[str, Any]) -> None:
        """Record the stage just finished and stand at the start of the next one."""
        self.stages.append(finished)
        self.stage_index += 1
        self.epoch = self.batch = self.step = self.total_steps = 0
        self.seconds = 0.0
        self.log = LossLog()
        self.epoch_files = []

    def to_checkpoint(
        self,
        student: torch.nn.Module,
        projections: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None,
        rng_ranks: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The whole run in one dict: this state, the weights, the optimiser (None at a stage boundary), RNGs
        (``rng_ranks``: every rank's, under torchrun; ``rng`` is this process's)."""
        return {
            **asdict(self),
            "student": student.state_dict(),
            "projections": projections.state_dict(),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "rng": rng_state(),
            "rng_ranks": rng_ranks,
        }

    @classmethod
    def from_checkpoint(cls, checkpoint: dict[str, Any]) -> TrainState:
        """The state part of a checkpoint (weights, optimiser and RNGs are restored by their owners)."""
        if "log" not in checkpoint:  # written before TrainState existed: the same content under flat names
            log = {"history": checkpoint["history"], "window": checkpoint["window"]}
            checkpoint = {**checkpoint, "log": log, "seconds": checkpoint["stage_seconds"]}
        checkpoint = {"epoch_files": [], **checkpoint}  # written before the epoch's files were kept
        values = {f.name: checkpoint[f.name] for f in fields(cls)}
        values["log"] = LossLog(**values["log"])
        return cls(**values)


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch generator states: the CPU's and each visible CUDA device's, by device index."""
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = {i: torch.cuda.get_rng_state(i) for i in range(torch.cuda.device_count())}
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore ``rng_state()``'s generators. CUDA states are restored for the devices that exist now: a run
    resumed with fewer (or no) visible GPUs continues instead of failing on a missing device."""
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if not torch.cuda.is_available():
        return
    for index, generator in restorable_cuda_states(state.get("cuda"), torch.cuda.device_count()).items():
        torch.cuda.set_rng_state(generator, index)


def restorable_cuda_states(saved: dict[int, Any] | list[Any] | None, device_count: int) -> dict[int, Any]:
    """The saved CUDA generator states of the devices ``0..device_count-1`` (a list: a checkpoint written
    before states were kept by index, when a resume on fewer GPUs failed with IndexError)."""
    if not saved:
        return {}
    by_index = dict(enumerate(saved)) if isinstance(saved, list) else saved
    return {int(i): state for i, state in by_index.items() if int(i) < device_count}


def rank_rng_state(checkpoint: dict[str, Any], rank: int) -> dict[str, Any]:
    """The generator states rank ``rank`` saved (``rng_ranks``); rank 0's for a checkpoint written without
    them or by fewer processes."""
    ranks = checkpoint.get("rng_ranks") or []
    return ranks[rank] if rank < len(ranks) else checkpoint["rng"]


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write beside the target and rename, so a kill mid-write leaves the previous checkpoint intact."""
    with atomic_write(path) as handle:
        torch.save(state, handle)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Our own file (it holds RNG states, which need full unpickling)."""
    return torch.load(path, map_location="cpu", weights_only=False)

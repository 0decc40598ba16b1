"""What a distillation run derives from its fields, for task (``distill_run.DistillRun``) and general
(``general.GeneralRun``) distillation alike: the precision, padding, the checkpoint file, the DDP-wrapped student,
cancellation, saving and restoring a checkpoint (what ``train.train_stage`` asks of a run besides its stages and batches)."""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property, partial
from pathlib import Path
from typing import Any

import torch

from shared.precision import PrecisionChoice
from workers.distill.checkpoint import (
    TrainState,
    load_checkpoint,
    rank_rng_state,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from workers.distill.distributed import Dist
from workers.distill.errors import DistillError
from workers.distill.losses import Projections
from workers.distill.progress import ShouldStop
from workers.distill.stages import intermediate_loss


def checkpoint_file(config: Any) -> Path:
    """Where a run with ``config`` keeps its checkpoint: ``checkpoint_path``, else ``output_dir/checkpoint.pt``."""
    return Path(config.checkpoint_path or Path(config.output_dir) / "checkpoint.pt")


class DistillRunBase:
    """Derived properties and actions; the subclasses are dataclasses holding these attributes."""

    config: Any
    dist: Dist
    student: Any
    projections: Projections
    stop: ShouldStop | None
    precision: PrecisionChoice
    tokenizer: Any
    teacher: Any
    layer_map: Any

    @property
    def bf16(self) -> bool:
        """bf16 autocast around the forward passes (fp32 weights and losses)."""
        return self.precision.bf16

    @property
    def pad_id(self) -> int:
        return self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0

    @property
    def checkpoint_path(self) -> Path:
        return checkpoint_file(self.config)

    @cached_property
    def train_student(self) -> torch.nn.Module:
        """The student as the stages call it: DDP under torchrun. Wrapped on first use, so after a
        checkpoint's weights are in (DDP broadcasts rank 0's weights when it wraps)."""
        return self.dist.wrap(self.student)

    def intermediate_loss(self) -> Callable[..., Any]:
        """Embedding + attention + hidden losses against the teacher: task stage 1 and general distillation."""
        c = self.config
        return partial(
            intermediate_loss,
            self.teacher,
            self.train_student,
            self.projections,
            self.layer_map,
            c.loss_weights,
            self.dist.enabled,
        )

    def should_stop(self) -> bool:
        return self.stop is not None and self.stop()

    def save_checkpoint(self, state: TrainState, optimizer: torch.optim.Optimizer | None) -> None:
        """Rank 0 writes the checkpoint (the other ranks hold the same weights), with every rank's RNG states."""
        rng_ranks = self.dist.gather(rng_state()) if self.dist.enabled else None
        if self.dist.is_main:
            checkpoint = state.to_checkpoint(self.student, self.projections, optimizer, rng_ranks)
            save_checkpoint(self.checkpoint_path, checkpoint)

    def restore_checkpoint(self) -> tuple[TrainState, dict[str, Any]] | None:
        """With ``config.resume`` and a checkpoint: weights and this rank's RNG states restored, and (the state,
        the optimiser's state); else None. Rank 0 writes the checkpoints, so its view decides (on several
        nodes the file must be on storage every node shares)."""
        if not self.dist.agree(self.config.resume and self.checkpoint_path.exists()):
            return None
        if not self.checkpoint_path.exists():
            raise DistillError(
                f"rank {self.dist.rank}: rank 0 resumes from {self.checkpoint_path}, which this process cannot "
                "see; the checkpoints of a multi-node run must be on storage every node shares"
            )
        checkpoint = load_checkpoint(self.checkpoint_path)
        self.student.load_state_dict(checkpoint["student"])
        self.projections.load_state_dict(checkpoint["projections"])
        set_rng_state(rank_rng_state(checkpoint, self.dist.rank))
        return TrainState.from_checkpoint(checkpoint), checkpoint["optimizer"]

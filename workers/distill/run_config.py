"""What the configs of the training runs share: ``LoopConfig`` (every loop: output, batches, optimiser schedule,
seed, device, precision), ``TrainingConfig`` (runs on labelled task data: fine-tuning and task distillation) and
``DistillingConfig`` (the distillation losses and checkpoints of task and general distillation alike)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from shared.settings import Settings, get_settings, setting_field, settings_values
from workers.distill.data import TrainSource
from workers.distill.losses import LossWeights


@dataclass(kw_only=True)
class LoopConfig:
    """The fields every training loop reads; ``setting_field`` defaults come from shared settings."""

    output_dir: Path
    batch_size: int = setting_field("batch_size")
    weight_decay: float = setting_field("weight_decay")
    warmup_ratio: float = setting_field("warmup_ratio")
    grad_clip: float = setting_field("grad_clip")
    seed: int = setting_field("seed")
    device: str = setting_field("device")
    log_every: int = setting_field("log_every")  # steps averaged into one loss_history point
    precision: str = setting_field("precision")  # auto, fp32 or bf16 (bf16 = autocast; see amp.py)

    @classmethod
    def from_settings(cls, *, output_dir: str | Path, settings: Settings | None = None, **fields: Any) -> Self:
        """The config of ``fields``; a field left out or given as None takes its value from ``settings``
        (default: the process's), or the field's own default."""
        return cls(output_dir=Path(output_dir), **settings_values(cls, settings or get_settings(), fields))


@dataclass(kw_only=True)
class TrainingConfig(LoopConfig):
    """A run on a labelled task's data: its files, columns, sequence length and evaluation."""

    train: TrainSource
    task: str
    dev: str | Path | None = None
    text_columns: tuple[str, ...] | None = None
    label_column: str | None = None
    max_seq_len: int | None = None  # None: the task's default (64 single sentence, 128 pairs)
    eval_batch_size: int = setting_field("eval_batch_size")


@dataclass(kw_only=True)
class DistillingConfig:
    """The intermediate losses' layer map and projections, and checkpointing, of task and general distillation."""

    layer_map: str | list[int] = setting_field("layer_map")
    checkpoint_every: int = setting_field("checkpoint_every")
    share_projection: bool = False
    loss_weights: LossWeights = field(default_factory=LossWeights)
    resume: bool = False
    checkpoint_path: Path | None = None  # default: output_dir / "checkpoint.pt"
    keep_checkpoint: bool = False  # a finished run deletes its checkpoint unless asked to keep it

"""What the configs of a fine-tuning run (``finetune.FinetuneConfig``) and a distillation run
(``train.DistillConfig``) share: the data, the batches, the optimiser's schedule, evaluation and the device."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from shared.settings import Settings, get_settings, setting_field, settings_values
from workers.distill.data import TrainSource


@dataclass(kw_only=True)
class TrainingConfig:
    """The fields both runs read; ``setting_field`` defaults come from shared settings."""

    train: TrainSource
    task: str
    output_dir: Path
    dev: str | Path | None = None
    text_columns: tuple[str, ...] | None = None
    label_column: str | None = None
    batch_size: int = setting_field("batch_size")
    max_seq_len: int | None = None  # None: the task's default (64 single sentence, 128 pairs)
    weight_decay: float = setting_field("weight_decay")
    warmup_ratio: float = setting_field("warmup_ratio")
    grad_clip: float = setting_field("grad_clip")
    seed: int = setting_field("seed")
    eval_batch_size: int = setting_field("eval_batch_size")
    device: str = setting_field("device")
    log_every: int = 10  # steps averaged into one loss_history point
    precision: str = setting_field("precision")  # auto, fp32 or bf16 (bf16 = autocast; see amp.py)

    @classmethod
    def from_settings(cls, *, output_dir: str | Path, settings: Settings | None = None, **fields: Any) -> Self:
        """The config of ``fields``; a field left out or given as None takes its value from ``settings``
        (default: the process's), or the field's own default."""
        return cls(output_dir=Path(output_dir), **settings_values(cls, settings or get_settings(), fields))

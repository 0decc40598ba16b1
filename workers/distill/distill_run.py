"""What one distillation builds before it trains (device, models, data) and the per-stage plans the loop
in ``train.py`` runs. Everything here is fixed for the run; what changes while training is ``TrainState``."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from transformers import PreTrainedModel

from shared.precision import PrecisionChoice
from shared.tasks import TaskPreset, get_task
from workers.distill.amp import frozen_teacher_in, training_precision
from workers.distill.attention_capture import use_fast_attention
from workers.distill.data import (
    Example,
    ExampleEncoder,
    TrainSource,
    collate,
    default_max_seq_len,
    length_bucketed_batches,
    resolve_train_files,
)
from workers.distill.distributed import Dist
from workers.distill.errors import DistillError
from workers.distill.evaluate import evaluate
from workers.distill.layer_map import build_layer_map
from workers.distill.losses import Projections
from workers.distill.models import build_student, load_teacher, load_tokenizer, resolve_device, student_layer_count
from workers.distill.optim import seed_everything
from workers.distill.progress import STAGE_INTERMEDIATE, STAGE_PREDICTION, ProgressCallback, ShouldStop
from workers.distill.run_base import DistillRunBase
from workers.distill.stages import Batch, Stage, TeacherLogits, prediction_loss, set_attention

if TYPE_CHECKING:
    from workers.distill.train import DistillConfig


@dataclass
class DistillRun(DistillRunBase):
    """The parts of one ``distill`` call, built once by ``build`` and shared by both stages."""

    config: DistillConfig
    dist: Dist
    device: torch.device
    encoder: ExampleEncoder  # the tokenizer, the task and the length limit
    dev: list[Example] | None
    teacher: PreTrainedModel
    student: PreTrainedModel
    projections: Projections
    layer_map: list[int]
    teacher_logits: TeacherLogits
    progress: ProgressCallback | None
    stop: ShouldStop | None
    precision: PrecisionChoice
    teacher_guard: dict[str, Any] | None = None  # the guard's verdict (teacher_guard.py), None without dev set
    projections_start: str = "random"  # or the maps a general distillation saved beside the student
    student_start: dict[str, Any] = field(default_factory=dict)  # a checkpoint's fitting: layers kept, vocabulary

    @classmethod
    def build(cls, config: DistillConfig, progress: ProgressCallback | None, stop: ShouldStop | None) -> DistillRun:
        """Check the config, seed, load the teacher and the data (failing fast on bad files), build the student."""
        preset = get_task(config.task)
        device = resolve_device(config.device)
        dist = Dist.from_env(device)  # torchrun: one rank per GPU (no-op in a single process)
        device = dist.device(device)
        precision = training_precision(config.precision, device)
        Path(config.output_dir).mkdir(parents=True, exist_ok=True)
        if config.temperature <= 0:
            raise DistillError(f"temperature must be positive, got {config.temperature}")
        if config.batch_size < 1 or config.stage1_epochs < 0 or config.stage2_epochs < 0:
            raise DistillError("batch size must be >= 1 and epochs >= 0")
        seed_everything(config.seed)
        teacher = load_teacher(config.teacher, preset, device)
        tokenizer = load_tokenizer(config.teacher)
        max_len = config.max_seq_len or default_max_seq_len(preset)
        encoder = ExampleEncoder(tokenizer, preset, max_len, config.text_columns, config.label_column)
        _read_train(encoder, config.train)  # fail fast on bad data, before any training
        dev = encoder.encode_files([config.dev], require_labels=True) if config.dev else None
        student_layers = student_layer_count(config.student)
        layer_map = build_layer_map(config.layer_map, student_layers, teacher.config.num_hidden_layers)
        student, student_start = build_student(config.student, teacher, tokenizer, layer_map)
        student.to(device)  # type: ignore[arg-type]  # transformers' wrapper hides nn.Module.to's signature
        frozen_teacher_in(precision, teacher)
        projections = Projections(
            student.config.hidden_size, teacher.config.hidden_size, len(layer_map), config.share_projection
        )
        projections_start = projections.load_beside(config.student.checkpoint, layer_map)
        projections.to(device)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        targets = TeacherLogits(
            teacher, config.speed.cache_teacher_logits, config.eval_batch_size, pad_id, device, precision.bf16
        )
        return cls(
            config,
            dist,
            device,
            encoder,
            dev,
            teacher,
            student,
            projections,
            layer_map,
            targets,
            progress,
            stop,
            precision,
            projections_start=projections_start,
            student_start=student_start,
        )

    @property
    def preset(self) -> TaskPreset:
        return self.encoder.preset

    @property
    def tokenizer(self) -> Any:
        return self.encoder.tokenizer

    def stage(self, index: int) -> Stage:
        """Stage 1 trains student and projections on the intermediate losses; stage 2 the student on logits."""
        c = self.config
        if index == 0:
            loss = self.intermediate_loss()
            trained = [self.student, self.projections]
            return Stage(0, STAGE_INTERMEDIATE, c.stage1_epochs, c.lr1, trained, [self.projections], loss)
        loss = partial(
            prediction_loss,
            self.train_student,
            self.teacher_logits,
            self.preset.is_regression,
            c.temperature,
            c.loss_weights.prediction,
        )
        return Stage(1, STAGE_PREDICTION, c.stage2_epochs, c.lr2, [self.student], [], loss)

    def train_examples(self) -> list[Example]:
        """The training rows now (a live source may have more than at the last call)."""
        return _read_train(self.encoder, self.config.train)

    def epoch_batches(
        self, stage: Stage, epoch: int, files: list[str] | None = None
    ) -> tuple[list[Example], list[list[int]], list[str]]:
        """The epoch's rows, its batches of row indices (a pure function of seed, stage, epoch and rows) and the
        files the rows came from: the source's files now, or ``files`` (a resumed epoch's own)."""
        prepare_epoch = getattr(self.config.train, "prepare_epoch", None)
        if prepare_epoch is not None:  # a live source (the worker's shard feed) may wait for more files
            prepare_epoch(stage.name, epoch, stage.epochs)
        # asked even on a resume (the shard feed writes the copies it reads); shards that landed since join now
        present = [str(f) for f in resolve_train_files(self.config.train)]
        if not files or not all(Path(f).is_file() for f in files):  # files moved since (a CLI resume): today's
            files = present
        examples = _read_train(self.encoder, files)
        c = self.config
        lengths = [len(e) for e in examples]
        batches = length_bucketed_batches(
            lengths, c.batch_size, c.seed, epoch, bucket=c.speed.bucket_by_length, tag=stage.index
        )
        return examples, batches, files

    def collate(self, rows: list[Example]) -> Batch:
        pad_to = self.encoder.max_seq_len if self.config.speed.pad_to_max_length else None
        return collate(rows, self.pad_id, self.device, pad_to=pad_to)

    def set_attention(self, stage: str, models: list[PreTrainedModel] | None = None) -> None:
        """Each model's attention for ``stage``; the teacher captures only the layers the map uses."""
        for model in models or [self.teacher, self.student]:
            layers = sorted({t - 1 for t in self.layer_map}) if model is self.teacher else None
            set_attention(model, stage, self.config.speed.fast_attention, layers)

    def dev_metrics(self, model: PreTrainedModel) -> dict[str, float]:
        """The task's metrics on the dev set (SDPA attention: no scores needed); {} without a dev set."""
        if self.dev is None:
            return {}
        use_fast_attention(model)
        return evaluate(model, self.dev, self.preset, self.config.eval_batch_size, self.pad_id, self.device, self.bf16)


def _read_train(encoder: ExampleEncoder, source: TrainSource) -> list[Example]:
    """The rows of the train source's files present now; an error when there are none."""
    files = resolve_train_files(source)
    if not files:
        raise DistillError("no training files given")
    examples = encoder.encode_files(files)
    if not examples:
        raise DistillError(f"the training data {[str(f) for f in files]} has no rows")
    return examples

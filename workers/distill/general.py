"""TinyBERT's first stage, general distillation: a pre-trained (not fine-tuned) teacher distilled into a fresh
student encoder on unlabelled text, through the embedding, pre-softmax attention and hidden losses with
learned projections; no prediction loss. The output (a ``BertModel`` folder) is a student's starting point for
task-specific distillation (``StudentSpec.checkpoint``).

Nothing here is a second training loop: ``GeneralRun`` offers what ``train.train_stage`` asks of a run (the
stage plan, batches, attention kernels, checkpoints), so the step, the loss log, the progress events, the
checkpoint (``TrainState``) and resume are those of task-specific distillation's stage 1.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModel, BertModel, PreTrainedModel

from shared.dataset_io import atomic_write_text
from shared.precision import PrecisionChoice
from shared.settings import Settings, get_settings, setting_field, settings_values
from workers.distill.amp import frozen_teacher_in, training_precision
from workers.distill.attention_capture import enable_capture, use_fast_attention
from workers.distill.checkpoint import TrainState
from workers.distill.corpus import encode_corpus
from workers.distill.data import Example, TrainSource, collate, length_bucketed_batches
from workers.distill.data import resolve_train_files as resolve_corpus_files
from workers.distill.distributed import Dist
from workers.distill.errors import DistillError
from workers.distill.families import family_of
from workers.distill.layer_map import build_layer_map
from workers.distill.losses import Projections
from workers.distill.models import (
    StudentSpec,
    _load_config,
    count_parameters,
    encoder_student_config,
    load_tokenizer,
    resolve_device,
)
from workers.distill.optim import seed_everything
from workers.distill.progress import ProgressCallback, ShouldStop, emit
from workers.distill.run_base import DistillRunBase, checkpoint_file
from workers.distill.run_config import DistillingConfig, LoopConfig
from workers.distill.stages import Batch, Stage
from workers.distill.train import resumed_event, train_stage
from workers.distill.width_prune import INITS, resolve_init, start_pruned

STAGE_GENERAL = "general-distill"  # shared.job_types.Stage.GENERAL_DISTILL


@dataclass(kw_only=True)
class GeneralDistillConfig(LoopConfig, DistillingConfig):
    """One general distillation; ``from_settings`` fills the defaults from shared settings."""

    teacher: str
    corpus: TrainSource  # plain-text files (one passage per line) or datasets whose text columns are read
    student: StudentSpec = field(default_factory=StudentSpec)
    text_columns: tuple[str, ...] | None = None  # for tables whose text columns are not a GLUE task's
    epochs: int = setting_field("general_epochs")
    lr: float = setting_field("general_lr")
    max_seq_len: int = setting_field("general_max_seq_len")

    @classmethod
    def from_settings(
        cls, *, output_dir: str | Path, settings: Settings | None = None, **fields: Any
    ) -> GeneralDistillConfig:
        s = settings or get_settings()
        fields["student"] = fields.get("student") or StudentSpec(
            **settings_values(StudentSpec, s), init=s.general_student_init
        )
        return super().from_settings(output_dir=output_dir, settings=s, **fields)


def load_encoder_teacher(path: str, device: torch.device) -> PreTrainedModel:
    """A frozen pre-trained encoder (any head dropped) of a family whose attention scores we capture."""
    config = _load_config(path, "teacher")
    family_of(config, f"teacher {path!r}")
    try:
        model = AutoModel.from_pretrained(path, dtype=torch.float32)  # fp32 whatever config.dtype says
    except (OSError, ValueError) as exc:
        raise DistillError(f"cannot load the teacher from {path!r}: {exc}") from None
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@dataclass
class GeneralRun(DistillRunBase):
    """What ``train_stage`` needs of a run, for the single stage of general distillation."""

    config: GeneralDistillConfig
    dist: Dist
    device: torch.device
    tokenizer: Any
    examples: list[Example]
    teacher: PreTrainedModel
    student: PreTrainedModel
    projections: Projections
    layer_map: list[int]
    progress: ProgressCallback | None
    stop: ShouldStop | None
    precision: PrecisionChoice
    init: dict[str, str]  # how the student started: asked, used, why

    @classmethod
    def build(cls, config: GeneralDistillConfig, progress: ProgressCallback | None, stop: ShouldStop | None):
        """Check the config, seed, load the teacher and the corpus (failing fast), build the student."""
        if config.batch_size < 1 or config.epochs < 0 or config.max_seq_len < 8:
            raise DistillError("batch size must be >= 1, epochs >= 0 and max_seq_len >= 8")
        if config.student.checkpoint or config.student.init not in INITS:
            raise DistillError(
                f"general distillation builds a fresh student: give its shape and an init of {', '.join(INITS)}, "
                "not a checkpoint"
            )
        device = resolve_device(config.device)
        dist = Dist.from_env(device)  # torchrun: one rank per GPU (no-op in a single process)
        device = dist.device(device)
        precision = training_precision(config.precision, device)
        Path(config.output_dir).mkdir(parents=True, exist_ok=True)
        seed_everything(config.seed)
        teacher = load_encoder_teacher(config.teacher, device)
        tokenizer = load_tokenizer(config.teacher)
        files = resolve_corpus_files(config.corpus)
        if not files:
            raise DistillError("no corpus files given")
        examples = encode_corpus(tokenizer, files, config.max_seq_len, config.text_columns)
        layer_map = build_layer_map(config.layer_map, config.student.layers, teacher.config.num_hidden_layers)
        student = BertModel(encoder_student_config(config.student, teacher.config))  # its pooler: for the task head
        if student.config.num_attention_heads != teacher.config.num_attention_heads:
            raise DistillError(
                f"the student has {student.config.num_attention_heads} attention heads and the teacher "
                f"{teacher.config.num_attention_heads}; the attention loss compares heads one to one "
                f"(--student-heads {teacher.config.num_attention_heads})"
            )
        student.to(device)  # type: ignore[arg-type]  # transformers' wrapper hides nn.Module.to's signature
        projections = Projections(
            student.config.hidden_size, teacher.config.hidden_size, len(layer_map), config.share_projection
        ).to(device)
        init, why = resolve_init(config.student.init, teacher.config, student.config)
        # A resumed run's weights come from its checkpoint: cutting the teacher first would be wasted work.
        resuming = dist.agree(bool(config.resume) and checkpoint_file(config).exists())
        if init == "pruned" and not resuming:
            start_pruned(student, teacher, projections, examples, layer_map, tokenizer.pad_token_id or 0, device)
        frozen_teacher_in(precision, teacher)
        return cls(
            config,
            dist,
            device,
            tokenizer,
            examples,
            teacher,
            student,
            projections,
            layer_map,
            progress,
            stop,
            precision,
            {"asked": config.student.init, "used": init, "why": why},
        )

    def stage(self, index: int) -> Stage:
        """The one stage: student and projections on the embedding + attention + hidden losses."""
        c = self.config
        loss = self.intermediate_loss()
        return Stage(0, STAGE_GENERAL, c.epochs, c.lr, [self.student, self.projections], [self.projections], loss)

    def epoch_batches(
        self, stage: Stage, epoch: int, files: list[str] | None = None
    ) -> tuple[list[Example], list[list[int]], list[str]]:
        """The corpus (read once at the start: no files to keep for a resumed epoch) and the epoch's batches."""
        lengths = [len(e) for e in self.examples]
        return self.examples, length_bucketed_batches(lengths, self.config.batch_size, self.config.seed, epoch), []

    def collate(self, rows: list[Example]) -> Batch:
        return collate(rows, self.pad_id, self.device)

    def set_attention(self, stage: str, models: list[PreTrainedModel] | None = None) -> None:
        """Both capture their scores; the teacher only for the layers the map uses."""
        enable_capture(self.teacher, sorted({t - 1 for t in self.layer_map}))
        enable_capture(self.student)


def general_distill(
    config: GeneralDistillConfig, progress: ProgressCallback | None = None, should_stop: ShouldStop | None = None
) -> dict[str, Any]:
    """Run general distillation; save the student encoder, its tokenizer and report.json in ``output_dir``.

    Resumable like ``distill``: with ``config.resume`` and a checkpoint present, the run continues from it to
    the same weights as an uninterrupted run (same seed, same corpus, CPU).
    """
    started = time.time()
    run = GeneralRun.build(config, progress, should_stop)
    try:
        restored = run.restore_checkpoint()
        state, saved_optimizer = restored or (TrainState(), None)
        if restored is not None:
            emit(progress, resumed_event(STAGE_GENERAL, state, finished=state.stage_index > 0))
        if state.stage_index == 0:
            train_stage(run, state, saved_optimizer)
        return _finish(run, state, started)
    finally:
        run.dist.close()


def _finish(run: GeneralRun, state: TrainState, started: float) -> dict[str, Any]:
    """Save the student (rank 0) and report.json; delete the checkpoint unless kept."""
    out = Path(run.config.output_dir)
    files = [str(f) for f in resolve_corpus_files(run.config.corpus)]
    use_fast_attention(run.student)
    report = {
        "teacher": _describe(run.teacher, path=str(run.config.teacher)),
        "student": _describe(run.student, init=run.init),
        "layer_map": run.layer_map,
        "corpus": {
            "files": files,
            "passages": len(run.examples),
            "tokens": sum(len(e) for e in run.examples),
        },
        "stages": state.stages,
        "device": str(run.device),
        "precision": run.precision.model_dump(),
        "processes": run.dist.world,
        "config": json.loads(json.dumps({**asdict(run.config), "corpus": files}, default=str)),
        "seconds": round(time.time() - started, 3),
    }
    if run.dist.is_main:
        run.student.save_pretrained(out)
        run.tokenizer.save_pretrained(out)
        run.projections.save_beside(out, run.layer_map)
        atomic_write_text(out / "report.json", [json.dumps(report, indent=2) + "\n"])
        if not run.config.keep_checkpoint:
            run.checkpoint_path.unlink(missing_ok=True)
    return report


def _describe(model: PreTrainedModel, **extra: Any) -> dict[str, Any]:
    c = model.config
    shape = {
        "params": count_parameters(model),
        "layers": c.num_hidden_layers,
        "hidden": c.hidden_size,
        "heads": c.num_attention_heads,
        "intermediate": getattr(c, "intermediate_size", None),
    }
    return {**extra, **shape}

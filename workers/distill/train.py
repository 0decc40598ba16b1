"""TinyBERT task-specific distillation: ``distill`` runs stage 1, then stage 2, from one ``TrainState``.

Stage 1 ("distill-intermediate") fits the student's embedding output, attention scores and hidden states
to the teacher's mapped layers; stage 2 ("distill-prediction") fits its logits to the teacher's. This file
is the loop; what it calls: ``distill_run.py`` (the models, the data, each stage's plan), ``stages.py``
(the stage losses, attention kernels, teacher targets), ``step.py`` (one optimiser step, the loss log),
``checkpoint.py`` (``TrainState``, which is the checkpoint).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from shared.dataset_io import atomic_write_text
from shared.settings import Settings, get_settings, setting_field, settings_values
from workers.distill.attention_capture import use_fast_attention
from workers.distill.checkpoint import TrainState
from workers.distill.data import config_summary
from workers.distill.distill_run import DistillRun
from workers.distill.errors import TrainingCancelled
from workers.distill.models import StudentSpec, count_parameters
from workers.distill.optim import make_optimizer
from workers.distill.progress import (
    STAGE_EVALUATE,
    STAGE_INTERMEDIATE,
    STAGE_PREDICTION,
    ProgressCallback,
    ProgressEvent,
    ShouldStop,
    emit,
)
from workers.distill.run_config import DistillingConfig, TrainingConfig
from workers.distill.stages import Stage
from workers.distill.step import LossSums, StepRule, train_step
from workers.distill.teacher_guard import guard_teacher

STAGES = (STAGE_INTERMEDIATE, STAGE_PREDICTION)


@dataclass
class SpeedSwitches:
    """Our speed-ups, each of which can be turned off. All on is the default; ``plain()`` is what a
    straightforward port of the reference does, the baseline ``bench/distill_bench.py`` measures against."""

    bucket_by_length: bool = True  # batches of similar lengths, padded to their own longest row
    pad_to_max_length: bool = False  # pad every batch to max_seq_len instead
    fast_attention: bool = True  # SDPA in stage 2 (eager otherwise; stage 1 always captures scores)
    cache_teacher_logits: bool = True  # stage 2: teacher logits once per distinct input, not every step

    @classmethod
    def plain(cls) -> SpeedSwitches:
        return cls(bucket_by_length=False, pad_to_max_length=True, fast_attention=False, cache_teacher_logits=False)


@dataclass(kw_only=True)
class DistillConfig(TrainingConfig, DistillingConfig):
    """Everything one distillation run needs; ``from_settings`` fills the defaults from shared settings."""

    teacher: str
    student: StudentSpec = field(default_factory=StudentSpec)
    stage1_epochs: int = setting_field("stage1_epochs")
    stage2_epochs: int = setting_field("stage2_epochs")
    lr1: float = setting_field("lr1")
    lr2: float = setting_field("lr2")
    temperature: float = setting_field("temperature")
    speed: SpeedSwitches = field(default_factory=SpeedSwitches)
    allow_weak_teacher: bool = False  # distil even when the teacher guard finds it weak (teacher_guard.py)
    teacher_guard_margin: float = setting_field("teacher_guard_margin")

    @classmethod
    def from_settings(cls, *, output_dir: str | Path, settings: Settings | None = None, **fields: Any) -> DistillConfig:
        s = settings or get_settings()
        fields["student"] = fields.get("student") or StudentSpec(**settings_values(StudentSpec, s))
        return super().from_settings(output_dir=output_dir, settings=s, **fields)


def distill(
    config: DistillConfig, progress: ProgressCallback | None = None, should_stop: ShouldStop | None = None
) -> dict[str, Any]:
    """Run both stages, save the student and report.json in ``config.output_dir``, return the report.

    With ``config.resume`` and a checkpoint present, the run continues from it and reaches the same weights
    as an uninterrupted run (same seed, same data, CPU). ``should_stop()`` is checked before every step;
    when it turns true ``TrainingCancelled`` is raised and the last checkpoint stays on disk.
    """
    started = time.time()
    run = DistillRun.build(config, progress, should_stop)
    try:
        state, saved_optimizer = _start_or_resume(run)
        run.teacher_guard = guard_teacher(run, state.teacher_dev)
        while state.stage_index < len(STAGES):
            _train_stage(run, state, saved_optimizer)
            saved_optimizer = None
        return _finish(run, state, started)
    finally:
        run.dist.close()


def _start_or_resume(run: DistillRun) -> tuple[TrainState, dict[str, Any] | None]:
    """A fresh state, or the checkpoint's (weights and RNG states restored) and its optimiser state."""
    restored = run.restore_checkpoint()
    resume = restored is not None
    state, saved_optimizer = restored or (TrainState(teacher_dev=run.dev_metrics(run.teacher)), None)
    if run.dev is not None:
        emit(
            run.progress,
            ProgressEvent(STAGE_EVALUATE, 0, 0, 0, metrics=state.teacher_dev, message="teacher dev metrics"),
        )
    if resume:
        finished = state.stage_index >= len(STAGES)
        emit(run.progress, resumed_event(STAGES[min(state.stage_index, len(STAGES) - 1)], state, finished))
    return state, saved_optimizer


def resumed_event(stage: str, state: TrainState, finished: bool) -> ProgressEvent:
    """What a resumed run reports: the step it continues from, or, from a checkpoint written after the last
    stage (a job whose export or packing failed keeps it), that no step is trained again: the student is saved."""
    if not finished:
        message = f"resumed from checkpoint at step {state.step}"
        return ProgressEvent(stage, state.epoch + 1, state.step, state.total_steps, message=message)
    last = state.stages[-1] if state.stages else {"epochs": 0, "steps": 0}
    message = f"resumed from checkpoint at step {last['steps']}: training had finished, so the student is only saved"
    return ProgressEvent(stage, last["epochs"], last["steps"], last["steps"], message=message)


def _train_stage(run: DistillRun, state: TrainState, saved_optimizer: dict[str, Any] | None) -> None:
    """Train the state's stage from its position to its end, then save a stage-boundary checkpoint."""
    config, stage = run.config, run.stage(state.stage_index)
    optimizer = make_optimizer(stage.trained, stage.lr, config.weight_decay, fused=run.bf16)
    if saved_optimizer is not None:
        optimizer.load_state_dict(saved_optimizer)
    rule = StepRule(stage.lr, config.warmup_ratio, config.grad_clip, run.bf16)
    sync_grads = partial(run.dist.average_grads, stage.synced)
    run.set_attention(stage.name)
    clock = time.time() - state.seconds
    sums, first_step = LossSums(), state.step + 1  # losses stay on the device between reads
    run.student.train()
    for epoch in range(state.epoch, stage.epochs):
        # a resumed epoch in progress reads the files it started on: its saved batch position indexes their rows
        examples, batches, state.epoch_files = run.epoch_batches(
            stage, epoch, state.epoch_files if state.batch else None
        )
        if state.batch == 0:  # a new epoch re-estimates the total (it grows while shards land)
            state.total_steps = state.step + (stage.epochs - epoch) * len(batches)
        if stage.name == STAGE_PREDICTION:
            run.teacher_logits.prepare(examples)  # the inputs not seen before
        state.epoch, epoch_clock, samples = epoch, time.time(), 0
        for b in range(state.batch, len(batches)):
            if run.should_stop():
                raise TrainingCancelled(stage.name, state.step)
            rows = run.dist.shard([examples[i] for i in batches[b]])  # this rank's slice
            forward_loss = partial(stage.loss, rows, run.collate(rows))
            loss, parts = train_step(
                forward_loss, optimizer, stage.trained, rule, state.step, state.total_steps, sync_grads
            )
            state.step, state.batch = state.step + 1, b + 1
            sums.add({**parts, "total": loss})
            values = sums.report(
                state.log,
                state.step,
                epoch + 1,
                every=config.log_every,
                total_steps=state.total_steps,
                flush=bool(config.checkpoint_every) and state.step % config.checkpoint_every == 0,
                first=state.step == first_step,
                mean=run.dist.mean,
            )
            samples += len(rows) * run.dist.world
            rate = samples / max(1e-9, time.time() - epoch_clock)
            emit(run.progress, ProgressEvent(stage.name, epoch + 1, state.step, state.total_steps, values, rate))
            if config.checkpoint_every and state.step % config.checkpoint_every == 0:
                state.seconds = time.time() - clock
                run.save_checkpoint(state, optimizer)
        state.batch = 0
        if stage.name == STAGE_PREDICTION:  # dev metrics after every prediction epoch
            state.student_dev = run.dev_metrics(run.student)
            run.set_attention(stage.name, [run.student])  # back from the evaluation's SDPA
            emit(
                run.progress,
                ProgressEvent(STAGE_EVALUATE, epoch + 1, state.step, state.total_steps, metrics=state.student_dev),
            )
        run.student.train()
    state.next_stage(_stage_summary(stage, state, time.time() - clock))
    run.save_checkpoint(state, None)


def _stage_summary(stage: Stage, state: TrainState, seconds: float) -> dict[str, Any]:
    """A finished stage as report.json lists it."""
    return {
        "name": stage.name,
        "epochs": stage.epochs,
        "steps": state.step,
        "lr": stage.lr,
        "seconds": round(seconds, 3),
        "loss_history": state.log.history,
    }


def _finish(run: DistillRun, state: TrainState, started: float) -> dict[str, Any]:
    """Save the student, its tokenizer and report.json (rank 0); delete the checkpoint unless kept."""
    config, out = run.config, Path(run.config.output_dir)
    if not state.student_dev and run.dev is not None:
        state.student_dev = run.dev_metrics(run.student)
    use_fast_attention(run.student)
    if run.dist.is_main:
        run.student.save_pretrained(out)
        run.tokenizer.save_pretrained(out)
    report = _report(run, state, started)
    if run.dist.is_main:
        atomic_write_text(out / "report.json", [json.dumps(report, indent=2) + "\n"])
        if not config.keep_checkpoint:
            run.checkpoint_path.unlink(missing_ok=True)
    return report


def _report(run: DistillRun, state: TrainState, started: float) -> dict[str, Any]:
    teacher, student, config = run.teacher, run.student, run.config
    return {
        "task": run.preset.name,
        "teacher": {
            "path": str(config.teacher),
            "params": count_parameters(teacher),
            "layers": teacher.config.num_hidden_layers,
            "hidden": teacher.config.hidden_size,
            "dev": state.teacher_dev,
        },
        "student": {
            "params": count_parameters(student),
            "layers": student.config.num_hidden_layers,
            "hidden": student.config.hidden_size,
            "heads": student.config.num_attention_heads,
            "intermediate": student.config.intermediate_size,
            "init": config.student.init,
            "checkpoint": config.student.checkpoint,
            **({"checkpoint_start": run.student_start} if run.student_start else {}),
            "dev": state.student_dev,
        },
        "projections_start": run.projections_start,
        "teacher_guard": run.teacher_guard,
        "layer_map": run.layer_map,
        "stages": state.stages,
        "train_rows": len(run.train_examples()),
        "dev_rows": len(run.dev) if run.dev is not None else 0,
        "device": str(run.device),
        "precision": run.precision.model_dump(),
        "processes": run.dist.world,
        "config": config_summary(config),
        "seconds": round(time.time() - started, 3),
    }


#: One stage's loop, public for general distillation (``general.py``), which runs it on its own run object.
train_stage = _train_stage

"""TinyBERT task-specific distillation: one readable training function, ``distill``.

Stage 1 ("distill-intermediate") fits the student's embedding output, attention scores and hidden states
to the teacher's mapped layers; stage 2 ("distill-prediction") fits its logits to the teacher's. Speed
comes from: length-bucketed batches padded only to their own longest row; in stage 2, SDPA attention for
both models and teacher logits computed once per distinct input and reused across epochs; bf16 autocast
on CUDA. The switches exist so ``bench/distill_bench.py`` can run the plain variant with the same code.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared.dataset_io import atomic_write_text
from shared.settings import Settings, get_settings, setting_field, settings_values
from shared.tasks import TaskPreset, get_task
from workers.distill.attention_capture import enable_capture, pop_scores, use_fast_attention
from workers.distill.checkpoint import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from workers.distill.data import (
    Example,
    ExampleEncoder,
    TrainSource,
    collate,
    length_bucketed_batches,
    resolve_train_files,
)
from workers.distill.distributed import Dist
from workers.distill.errors import DistillError, TrainingCancelled
from workers.distill.evaluate import evaluate, predict_logits
from workers.distill.layer_map import build_layer_map
from workers.distill.losses import (
    LossWeights,
    Projections,
    intermediate_losses,
    regression_mse,
    soft_cross_entropy,
)
from workers.distill.models import (
    StudentSpec,
    build_student,
    count_parameters,
    load_teacher,
    load_tokenizer,
    resolve_device,
    student_layer_count,
)
from workers.distill.progress import (
    STAGE_EVALUATE,
    STAGE_INTERMEDIATE,
    STAGE_PREDICTION,
    ProgressCallback,
    ProgressEvent,
    ShouldStop,
    emit,
)

STAGES = (STAGE_INTERMEDIATE, STAGE_PREDICTION)


@dataclass
class DistillConfig:
    """Everything one distillation run needs; ``from_settings`` fills the defaults from shared settings."""

    teacher: str
    train: TrainSource
    task: str
    output_dir: Path
    dev: str | Path | None = None
    student: StudentSpec = field(default_factory=StudentSpec)
    text_columns: tuple[str, ...] | None = None
    label_column: str | None = None
    stage1_epochs: int = setting_field("stage1_epochs")
    stage2_epochs: int = setting_field("stage2_epochs")
    lr1: float = setting_field("lr1")
    lr2: float = setting_field("lr2")
    batch_size: int = setting_field("batch_size")
    max_seq_len: int | None = None  # None: the task's default (64 single sentence, 128 pairs)
    layer_map: str | list[int] = setting_field("layer_map")
    temperature: float = setting_field("temperature")
    weight_decay: float = setting_field("weight_decay")
    warmup_ratio: float = setting_field("warmup_ratio")
    grad_clip: float = setting_field("grad_clip")
    seed: int = setting_field("seed")
    checkpoint_every: int = setting_field("checkpoint_every")
    eval_batch_size: int = setting_field("eval_batch_size")
    device: str = setting_field("device")
    share_projection: bool = False
    loss_weights: LossWeights = field(default_factory=LossWeights)
    log_every: int = 10  # steps averaged into one loss_history point
    resume: bool = False
    checkpoint_path: Path | None = None  # default: output_dir / "checkpoint.pt"
    keep_checkpoint: bool = False  # a finished run deletes its checkpoint unless asked to keep it
    # Speed switches (all on = ours; all off = the plain baseline of bench/distill_bench.py)
    bucket_by_length: bool = True
    pad_to_max_length: bool = False
    fast_attention: bool = True
    cache_teacher_logits: bool = True
    bf16: bool = True  # only ever used on CUDA

    @classmethod
    def from_settings(
        cls,
        *,
        teacher: str,
        train: TrainSource,
        task: str,
        output_dir: str | Path,
        settings: Settings | None = None,
        **overrides: Any,
    ) -> DistillConfig:
        s = settings or get_settings()
        student = overrides.pop("student", None) or StudentSpec(**settings_values(StudentSpec, s))
        values = settings_values(cls, s, overrides)
        return cls(teacher=teacher, train=train, task=task, output_dir=Path(output_dir), student=student, **values)


def default_max_seq_len(preset: TaskPreset, settings: Settings | None = None) -> int:
    s = settings or get_settings()
    return s.max_seq_len_pair if preset.is_pair else s.max_seq_len_single


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def lr_factor(step: int, total_steps: int, warmup_ratio: float) -> float:
    """Linear warm-up over the first ``warmup_ratio`` of the steps, then linear decay to zero."""
    warmup = max(1, int(warmup_ratio * total_steps))
    if step < warmup:
        return (step + 1) / warmup
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup))


def make_optimizer(modules: list[torch.nn.Module], lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW; biases and LayerNorm weights (the 1-D parameters) get no weight decay."""
    params = [p for m in modules for p in m.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=lr)


def distill(
    config: DistillConfig, progress: ProgressCallback | None = None, should_stop: ShouldStop | None = None
) -> dict[str, Any]:
    """Run both stages, save the student and report.json in ``config.output_dir``, return the report.

    With ``config.resume`` and a checkpoint present, the run continues from it and reaches the same weights
    as an uninterrupted run (same seed, same data, CPU). ``should_stop()`` is checked before every step;
    when it turns true ``TrainingCancelled`` is raised and the last checkpoint stays on disk.
    """
    started = time.time()
    preset = get_task(config.task)
    dist = Dist.from_env()  # torchrun: one rank per GPU (no-op in a single process)
    device = dist.device(resolve_device(config.device))
    bf16 = config.bf16 and device.type == "cuda"
    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = Path(config.checkpoint_path) if config.checkpoint_path else out / "checkpoint.pt"
    weights = config.loss_weights
    if config.temperature <= 0:
        raise DistillError(f"temperature must be positive, got {config.temperature}")
    if config.batch_size < 1 or config.stage1_epochs < 0 or config.stage2_epochs < 0:
        raise DistillError("batch size must be >= 1 and epochs >= 0")
    seed_everything(config.seed)

    # --- models, data -----------------------------------------------------------------------------
    teacher = load_teacher(config.teacher, preset, device)
    tokenizer = load_tokenizer(config.teacher)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    max_len = config.max_seq_len or default_max_seq_len(preset)
    encoder = ExampleEncoder(tokenizer, preset, max_len, config.text_columns, config.label_column)

    def train_examples() -> list[Example]:
        files = resolve_train_files(config.train)
        if not files:
            raise DistillError("no training files given")
        examples = encoder.encode_files(files)
        if not examples:
            raise DistillError(f"the training data {[str(f) for f in files]} has no rows")
        return examples

    train_examples()  # fail fast on bad data before any training
    dev = encoder.encode_files([config.dev], require_labels=True) if config.dev else None

    layer_map = build_layer_map(config.layer_map, student_layer_count(config.student), teacher.config.num_hidden_layers)
    student = build_student(config.student, teacher, tokenizer, layer_map).to(device)
    projections = Projections(
        student.config.hidden_size, teacher.config.hidden_size, len(layer_map), config.share_projection
    ).to(device)

    state: dict[str, Any] | None = None
    if config.resume and ckpt_path.exists():
        state = load_checkpoint(ckpt_path)
        student.load_state_dict(state["student"])
        projections.load_state_dict(state["projections"])
    train_student = dist.wrap(student)  # DDP under torchrun, else the student itself

    def dev_metrics(model: torch.nn.Module) -> dict[str, float]:
        if dev is None:
            return {}
        use_fast_attention(model)
        return evaluate(model, dev, preset, config.eval_batch_size, pad_id, device, bf16)

    teacher_dev = state["teacher_dev"] if state else dev_metrics(teacher)
    if dev is not None:
        emit(progress, ProgressEvent(STAGE_EVALUATE, 0, 0, 0, metrics=teacher_dev, message="teacher dev metrics"))
    stages_done: list[dict[str, Any]] = state["stages"] if state else []
    student_dev: dict[str, float] = state.get("student_dev", {}) if state else {}
    teacher_logit_cache: dict[tuple[int, ...], torch.Tensor] = {}

    # --- the two stages ---------------------------------------------------------------------------------
    for stage_index, stage in enumerate(STAGES):
        if state and state["stage_index"] > stage_index:
            continue
        intermediate = stage == STAGE_INTERMEDIATE
        epochs = config.stage1_epochs if intermediate else config.stage2_epochs
        lr = config.lr1 if intermediate else config.lr2
        trained = [student, projections] if intermediate else [student]
        optimizer = make_optimizer(trained, lr, config.weight_decay)
        if intermediate:  # stage 1 needs the scores
            enable_capture(teacher)
            enable_capture(student)
        elif config.fast_attention:
            use_fast_attention(teacher)
            use_fast_attention(student)
        else:  # the plain baseline: eager attention everywhere
            teacher.set_attn_implementation("eager")
            student.set_attn_implementation("eager")
        step, start_epoch, start_batch, total_steps = 0, 0, 0, 0
        history: list[dict[str, float]] = []
        window: dict[str, float] = {}
        stage_seconds = 0.0
        resumed = state is not None and state["stage_index"] == stage_index
        if resumed:
            assert state is not None
            if state["optimizer"] is not None:
                optimizer.load_state_dict(state["optimizer"])
            step, start_epoch, start_batch = state["step"], state["epoch"], state["batch"]
            total_steps, history, window = state["total_steps"], state["history"], state["window"]
            stage_seconds = state["stage_seconds"]
            set_rng_state(state["rng"])
            emit(
                progress,
                ProgressEvent(
                    stage, start_epoch + 1, step, total_steps, message=f"resumed from checkpoint at step {step}"
                ),
            )
        student.train()
        stage_started = time.time() - stage_seconds

        def checkpoint_state(stage_at: int, epoch: int, batch: int, opt: torch.optim.Optimizer | None) -> dict:
            return {
                "stage_index": stage_at,
                "step": step if stage_at == stage_index else 0,
                "epoch": epoch,
                "batch": batch,
                "total_steps": total_steps if stage_at == stage_index else 0,
                "history": history if stage_at == stage_index else [],
                "window": window if stage_at == stage_index else {},
                "stage_seconds": time.time() - stage_started if stage_at == stage_index else 0.0,
                "student": student.state_dict(),
                "projections": projections.state_dict(),
                "optimizer": opt.state_dict() if opt is not None else None,
                "rng": rng_state(),
                "teacher_dev": teacher_dev,
                "student_dev": student_dev,
                "stages": stages_done,
                "layer_map": layer_map,
            }

        for epoch in range(start_epoch, epochs):
            prepare_epoch = getattr(config.train, "prepare_epoch", None)
            if prepare_epoch is not None:  # a live source (the worker's shard feed) may wait for more files
                prepare_epoch(stage, epoch, epochs)
            examples = train_examples()  # re-read: shards that landed since the last epoch join now
            batches = length_bucketed_batches(
                [len(e) for e in examples],
                config.batch_size,
                config.seed,
                epoch,
                bucket=config.bucket_by_length,
                tag=stage_index,
            )
            first_batch = start_batch if (resumed and epoch == start_epoch) else 0
            if not (resumed and epoch == start_epoch and total_steps > 0):  # a stage-boundary checkpoint has 0
                total_steps = step + (epochs - epoch) * len(batches)
            if not intermediate and config.cache_teacher_logits:
                missing = {e.key: e for e in examples if e.key not in teacher_logit_cache}
                if missing:  # once per distinct input, in deterministic batches, reused by later epochs
                    todo = list(missing.values())
                    logits = predict_logits(teacher, todo, config.eval_batch_size, pad_id, device, bf16)
                    teacher_logit_cache.update({e.key: logits[i] for i, e in enumerate(todo)})
            epoch_started, epoch_samples = time.time(), 0
            for b in range(first_batch, len(batches)):
                if should_stop is not None and should_stop():
                    raise TrainingCancelled(stage, step)
                rows = dist.shard([examples[i] for i in batches[b]])  # this rank's slice
                batch = collate(rows, pad_id, device, pad_to=max_len if config.pad_to_max_length else None)
                for group in optimizer.param_groups:
                    group["lr"] = lr * lr_factor(step, total_steps, config.warmup_ratio)

                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                    if intermediate:
                        with torch.no_grad():
                            t_out = teacher(**batch, output_hidden_states=True)
                            t_scores = pop_scores(teacher)
                        s_out = train_student(**batch, output_hidden_states=True)
                        s_scores = pop_scores(student)
                        parts = intermediate_losses(
                            list(s_out.hidden_states),
                            list(t_out.hidden_states),
                            s_scores,
                            t_scores,
                            layer_map,
                            projections,
                            batch["attention_mask"],
                        )
                        loss = (
                            weights.embedding * parts["embedding"]
                            + weights.attention * parts["attention"]
                            + weights.hidden * parts["hidden"]
                        )
                        if dist.enabled:  # DDP needs every output's parameters in the graph (classifier: zero)
                            loss = loss + 0.0 * s_out.logits.float().sum()
                    else:
                        if config.cache_teacher_logits:
                            t_logits = torch.stack([teacher_logit_cache[e.key] for e in rows])
                        else:
                            with torch.no_grad():
                                t_logits = teacher(**batch).logits.float()
                        s_logits = train_student(**batch).logits
                        if preset.is_regression:
                            parts = {"prediction": regression_mse(s_logits, t_logits)}
                        else:
                            parts = {"prediction": soft_cross_entropy(s_logits, t_logits, config.temperature)}
                        loss = weights.prediction * parts["prediction"]

                loss.backward()
                dist.average_grads([projections] if intermediate else [])
                params = [p for m in trained for p in m.parameters() if p.grad is not None]
                torch.nn.utils.clip_grad_norm_(params, config.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1

                values = {k: float(v.detach()) for k, v in parts.items()}
                values["total"] = float(loss.detach())
                values = dist.mean(values)
                for k, v in values.items():
                    window[k] = window.get(k, 0.0) + v
                window["_n"] = window.get("_n", 0.0) + 1
                if step % config.log_every == 0 or step == total_steps:
                    n = window.pop("_n")
                    history.append({"step": step, "epoch": epoch + 1, **{k: v / n for k, v in window.items()}})
                    window = {}
                epoch_samples += len(rows) * dist.world
                speed = epoch_samples / max(1e-9, time.time() - epoch_started)
                emit(progress, ProgressEvent(stage, epoch + 1, step, total_steps, values, speed))
                if config.checkpoint_every and step % config.checkpoint_every == 0 and dist.is_main:
                    save_checkpoint(ckpt_path, checkpoint_state(stage_index, epoch, b + 1, optimizer))

            if not intermediate:  # dev metrics after every prediction epoch
                student_dev = dev_metrics(student)
                if not config.fast_attention:
                    student.set_attn_implementation("eager")
                emit(progress, ProgressEvent(STAGE_EVALUATE, epoch + 1, step, total_steps, metrics=student_dev))
            student.train()

        stages_done.append(
            {
                "name": stage,
                "epochs": epochs,
                "steps": step,
                "lr": lr,
                "seconds": round(time.time() - stage_started, 3),
                "loss_history": history,
            }
        )
        if dist.is_main:
            save_checkpoint(ckpt_path, checkpoint_state(stage_index + 1, 0, 0, None))
        state = None

    # --- save ---------------------------------------------------------------------------------------------
    if not student_dev and dev is not None:
        student_dev = dev_metrics(student)
    use_fast_attention(student)
    if dist.is_main:
        student.save_pretrained(out)
        tokenizer.save_pretrained(out)
    report = {
        "task": preset.name,
        "teacher": {
            "path": str(config.teacher),
            "params": count_parameters(teacher),
            "layers": teacher.config.num_hidden_layers,
            "hidden": teacher.config.hidden_size,
            "dev": teacher_dev,
        },
        "student": {
            "params": count_parameters(student),
            "layers": student.config.num_hidden_layers,
            "hidden": student.config.hidden_size,
            "heads": student.config.num_attention_heads,
            "intermediate": student.config.intermediate_size,
            "init": config.student.init,
            "checkpoint": config.student.checkpoint,
            "dev": student_dev,
        },
        "layer_map": layer_map,
        "stages": stages_done,
        "train_rows": len(train_examples()),
        "dev_rows": len(dev) if dev is not None else 0,
        "device": str(device),
        "processes": dist.world,
        "config": _config_summary(config),
        "seconds": round(time.time() - started, 3),
    }
    if dist.is_main:
        atomic_write_text(out / "report.json", [json.dumps(report, indent=2) + "\n"])
        if not config.keep_checkpoint:
            ckpt_path.unlink(missing_ok=True)
    return report


def _config_summary(config: DistillConfig) -> dict[str, Any]:
    """The run's settings as JSON (a callable train source is shown by name)."""
    summary = asdict(config)
    summary["train"] = (
        getattr(config.train, "__name__", "callable")
        if callable(config.train)
        else [str(f) for f in resolve_train_files(config.train)]
    )
    return json.loads(json.dumps(summary, default=str))

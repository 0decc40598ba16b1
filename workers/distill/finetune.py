"""Fine-tune a pre-trained encoder into a teacher: TinyBERT distils from a task-specific teacher, and the
only BERT available offline is a plain encoder. A short, ordinary supervised loop on gold labels."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification, PreTrainedModel

from shared.dataset_io import atomic_write_text
from shared.settings import setting_field
from shared.tasks import TaskPreset, get_task
from workers.distill.amp import training_precision
from workers.distill.attention_capture import use_fast_attention
from workers.distill.data import (
    Example,
    ExampleEncoder,
    collate,
    config_summary,
    default_max_seq_len,
    label_tensor,
    length_bucketed_batches,
    resolve_train_files,
)
from workers.distill.errors import DistillError, TrainingCancelled
from workers.distill.evaluate import evaluate
from workers.distill.models import FP32, count_parameters, load_tokenizer, resolve_device
from workers.distill.optim import make_optimizer, seed_everything
from workers.distill.progress import STAGE_EVALUATE, STAGE_FINETUNE, ProgressCallback, ProgressEvent, ShouldStop, emit
from workers.distill.run_config import TrainingConfig
from workers.distill.step import LossLog, LossParts, LossSums, StepRule, train_step


@dataclass(kw_only=True)
class FinetuneConfig(TrainingConfig):
    """One fine-tuning run; ``from_settings`` fills the defaults from shared settings."""

    model: str
    epochs: int = setting_field("finetune_epochs")
    lr: float = setting_field("finetune_lr")


def finetune(
    config: FinetuneConfig, progress: ProgressCallback | None = None, should_stop: ShouldStop | None = None
) -> dict[str, Any]:
    """Train a classification head (and the encoder) on gold labels; save model, tokenizer, report.json."""
    started = time.time()
    preset = get_task(config.task)
    device = resolve_device(config.device)
    precision = training_precision(config.precision, device)
    bf16 = precision.bf16
    seed_everything(config.seed)
    tokenizer = load_tokenizer(config.model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    train, dev = _labelled_examples(config, preset, tokenizer)
    model = _load_model(config.model, preset, device)
    optimizer = make_optimizer([model], config.lr, config.weight_decay, fused=bf16)
    rule = StepRule(config.lr, config.warmup_ratio, config.grad_clip, bf16)

    lengths = [len(e) for e in train]
    total_steps = config.epochs * len(length_bucketed_batches(lengths, config.batch_size, config.seed, 0))
    step, log, sums, dev_metrics = 0, LossLog(), LossSums(), {}
    for epoch in range(config.epochs):
        model.train()
        epoch_clock, samples = time.time(), 0
        for idx in length_bucketed_batches(lengths, config.batch_size, config.seed, epoch):
            if should_stop is not None and should_stop():
                raise TrainingCancelled(STAGE_FINETUNE, step)
            rows = [train[i] for i in idx]
            forward_loss = partial(_supervised_loss, model, collate(rows, pad_id, device), rows, preset.is_regression)
            loss, _ = train_step(forward_loss, optimizer, [model], rule, step, total_steps)
            step += 1
            sums.add({"loss": loss})  # on the device: read every log_every steps, not every step
            shown = sums.report(log, step, epoch + 1, every=config.log_every, total_steps=total_steps, first=step == 1)
            samples += len(rows)
            rate = samples / max(1e-9, time.time() - epoch_clock)
            emit(progress, ProgressEvent(STAGE_FINETUNE, epoch + 1, step, total_steps, shown, rate))
        if dev is not None:
            dev_metrics = evaluate(model, dev, preset, config.eval_batch_size, pad_id, device, bf16)
            emit(progress, ProgressEvent(STAGE_EVALUATE, epoch + 1, step, total_steps, metrics=dev_metrics))

    out = Path(config.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    report = {
        "task": preset.name,
        "model": str(config.model),
        "params": count_parameters(model),
        "layers": model.config.num_hidden_layers,
        "hidden": model.config.hidden_size,
        "train_rows": len(train),
        "dev_rows": len(dev) if dev is not None else 0,
        "dev": dev_metrics,
        "epochs": config.epochs,
        "steps": step,
        "loss_history": log.history,
        "device": str(device),
        "precision": precision.model_dump(),
        "config": config_summary(config),
        "seconds": round(time.time() - started, 3),
    }
    atomic_write_text(out / "report.json", [json.dumps(report, indent=2) + "\n"])
    return report


def _labelled_examples(
    config: FinetuneConfig, preset: TaskPreset, tokenizer: Any
) -> tuple[list[Example], list[Example] | None]:
    """Train and dev rows, tokenised; both need gold labels."""
    max_len = config.max_seq_len or default_max_seq_len(preset)
    encoder = ExampleEncoder(tokenizer, preset, max_len, config.text_columns, config.label_column)
    train = encoder.encode_files(resolve_train_files(config.train), require_labels=True)
    if not train:
        raise DistillError("the training data has no rows")
    dev = encoder.encode_files([config.dev], require_labels=True) if config.dev else None
    return train, dev


def _load_model(path: str, preset: TaskPreset, device: torch.device) -> PreTrainedModel:
    """The encoder with a fresh classification head for the task's labels, on SDPA attention."""
    labels = preset.labels or ("score",)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path,
            num_labels=preset.num_labels,
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            problem_type="regression" if preset.is_regression else "single_label_classification",
            ignore_mismatched_sizes=True,
            **FP32,
        )
    except (OSError, ValueError) as exc:
        raise DistillError(f"cannot load the encoder {path!r}: {exc}") from None
    model.to(device)
    use_fast_attention(model)
    return model


def _supervised_loss(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], rows: list[Example], regression: bool
) -> LossParts:
    """The model's own loss against the gold labels (cross-entropy, or MSE for regression)."""
    labels = label_tensor(rows, regression, next(model.parameters()).device)
    return model(**batch, labels=labels).loss, {}

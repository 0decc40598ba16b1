"""Fine-tune a pre-trained encoder into a teacher: TinyBERT distils from a task-specific teacher, and the
only BERT available offline is a plain encoder. A short, ordinary supervised loop on gold labels."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForSequenceClassification

from shared.dataset_io import atomic_write_text
from shared.settings import Settings, get_settings, setting_field, settings_values
from shared.tasks import get_task
from workers.distill.attention_capture import use_fast_attention
from workers.distill.data import (
    ExampleEncoder,
    TrainSource,
    collate,
    label_tensor,
    length_bucketed_batches,
    resolve_train_files,
)
from workers.distill.errors import DistillError, TrainingCancelled
from workers.distill.evaluate import evaluate
from workers.distill.models import count_parameters, load_tokenizer, resolve_device
from workers.distill.progress import STAGE_EVALUATE, STAGE_FINETUNE, ProgressCallback, ProgressEvent, ShouldStop, emit
from workers.distill.train import default_max_seq_len, lr_factor, make_optimizer, seed_everything


@dataclass
class FinetuneConfig:
    """One fine-tuning run; ``from_settings`` fills the defaults from shared settings."""

    model: str
    train: TrainSource
    task: str
    output_dir: Path
    dev: str | Path | None = None
    epochs: int = setting_field("finetune_epochs")
    lr: float = setting_field("finetune_lr")
    batch_size: int = setting_field("batch_size")
    max_seq_len: int | None = None
    text_columns: tuple[str, ...] | None = None
    label_column: str | None = None
    weight_decay: float = setting_field("weight_decay")
    warmup_ratio: float = setting_field("warmup_ratio")
    grad_clip: float = setting_field("grad_clip")
    seed: int = setting_field("seed")
    eval_batch_size: int = setting_field("eval_batch_size")
    device: str = setting_field("device")
    log_every: int = 10
    bf16: bool = True  # only ever used on CUDA

    @classmethod
    def from_settings(
        cls,
        *,
        model: str,
        train: TrainSource,
        task: str,
        output_dir: str | Path,
        settings: Settings | None = None,
        **overrides: Any,
    ) -> FinetuneConfig:
        s = settings or get_settings()
        values = settings_values(cls, s, overrides)
        return cls(model=model, train=train, task=task, output_dir=Path(output_dir), **values)


def finetune(
    config: FinetuneConfig, progress: ProgressCallback | None = None, should_stop: ShouldStop | None = None
) -> dict[str, Any]:
    """Train a classification head (and the encoder) on gold labels; save model, tokenizer, report.json."""
    started = time.time()
    preset = get_task(config.task)
    device = resolve_device(config.device)
    bf16 = config.bf16 and device.type == "cuda"
    out = Path(config.output_dir)
    seed_everything(config.seed)

    tokenizer = load_tokenizer(config.model)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    max_len = config.max_seq_len or default_max_seq_len(preset)
    encoder = ExampleEncoder(tokenizer, preset, max_len, config.text_columns, config.label_column)
    train = encoder.encode_files(resolve_train_files(config.train), require_labels=True)
    if not train:
        raise DistillError("the training data has no rows")
    dev = encoder.encode_files([config.dev], require_labels=True) if config.dev else None

    labels = preset.labels or ("score",)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            config.model,
            num_labels=preset.num_labels,
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            problem_type="regression" if preset.is_regression else "single_label_classification",
            ignore_mismatched_sizes=True,
        )
    except (OSError, ValueError) as exc:
        raise DistillError(f"cannot load the encoder {config.model!r}: {exc}") from None
    model.to(device)
    use_fast_attention(model)
    optimizer = make_optimizer([model], config.lr, config.weight_decay)

    step, history, window, dev_metrics = 0, [], {}, {}
    batches_per_epoch = len(length_bucketed_batches([len(e) for e in train], config.batch_size, config.seed, 0))
    total_steps = config.epochs * batches_per_epoch
    for epoch in range(config.epochs):
        model.train()
        batches = length_bucketed_batches([len(e) for e in train], config.batch_size, config.seed, epoch)
        epoch_started, samples = time.time(), 0
        for idx in batches:
            if should_stop is not None and should_stop():
                raise TrainingCancelled(STAGE_FINETUNE, step)
            rows = [train[i] for i in idx]
            batch = collate(rows, pad_id, device)
            for group in optimizer.param_groups:
                group["lr"] = config.lr * lr_factor(step, total_steps, config.warmup_ratio)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
                loss = model(**batch, labels=label_tensor(rows, preset.is_regression, device)).loss
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            window["loss"] = window.get("loss", 0.0) + float(loss.detach())
            window["_n"] = window.get("_n", 0.0) + 1
            if step % config.log_every == 0 or step == total_steps:
                n = window.pop("_n")
                history.append({"step": step, "epoch": epoch + 1, "loss": window.pop("loss") / n})
            samples += len(rows)
            emit(
                progress,
                ProgressEvent(
                    STAGE_FINETUNE,
                    epoch + 1,
                    step,
                    total_steps,
                    {"loss": float(loss.detach())},
                    samples / max(1e-9, time.time() - epoch_started),
                ),
            )
        if dev is not None:
            dev_metrics = evaluate(model, dev, preset, config.eval_batch_size, pad_id, device, bf16)
            emit(progress, ProgressEvent(STAGE_EVALUATE, epoch + 1, step, total_steps, metrics=dev_metrics))

    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    summary = asdict(config)
    summary["train"] = [str(f) for f in resolve_train_files(config.train)] if not callable(config.train) else "callable"
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
        "loss_history": history,
        "device": str(device),
        "config": json.loads(json.dumps(summary, default=str)),
        "seconds": round(time.time() - started, 3),
    }
    atomic_write_text(out / "report.json", [json.dumps(report, indent=2) + "\n"])
    return report

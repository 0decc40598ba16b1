"""A dataset table -> the same table plus the model's prediction columns, written in the input's format.

Classification adds ``prediction`` (the class name) and ``prob_<class>`` per class; regression adds
``prediction`` (the score). A file that already has one of these columns is refused by name rather than
overwritten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from shared.dataset_io import DatasetError, DatasetSpec, Table
from workers.deploy.inference import predict_logits, softmax
from workers.deploy.inputs import table_examples
from workers.deploy.loading import LoadedModel

PREDICTION = "prediction"
PROB_PREFIX = "prob_"


def prediction_columns(model: LoadedModel) -> list[str]:
    if model.labels is None:
        return [PREDICTION]
    return [PREDICTION] + [f"{PROB_PREFIX}{label}" for label in model.labels]


def _cell(value: float, table: Table) -> Any:
    """JSONL keeps numbers; TSV/CSV get short decimal strings."""
    value = round(float(value), 6)
    return value if table.format == "jsonl" else f"{value:.6g}"


def prediction_rows(model: LoadedModel, logits: np.ndarray, table: Table) -> list[list[Any]]:
    """Each input row followed by its prediction cells."""
    if model.labels is None:
        return [[*row, _cell(score, table)] for row, score in zip(table.rows, logits[:, 0])]
    if logits.shape[-1] != len(model.labels):
        raise DatasetError(f"the model gives {logits.shape[-1]} logits per row but names {len(model.labels)} classes")
    probs = softmax(logits)
    labels = model.labels
    return [[*row, labels[int(p.argmax())], *(_cell(x, table) for x in p)] for row, p in zip(table.rows, probs)]


def predict_table(
    model: LoadedModel,
    table: Table,
    spec: DatasetSpec,
    batch_size: int,
    max_seq_len: int,
    on_progress: Callable[[int], object] | None = None,
    name: str | None = None,
) -> tuple[Table, int]:
    """The input's rows and columns plus the prediction columns, same format, header and BOM as the input; and
    how many rows were longer than ``max_seq_len`` (cut)."""
    added = prediction_columns(model)
    for column in added:
        if column in table.columns:
            raise DatasetError("the input already has a column of this name; rename it", path=name, column=column)
    examples, truncated = table_examples(model.tokenizer, table, spec, max_seq_len)
    logits = predict_logits(model, examples, batch_size, on_progress)
    rows = prediction_rows(model, logits, table)
    return Table(table.columns + added, rows, table.format, table.has_header, table.bom), truncated

"""A general-distillation corpus: unlabelled passages from plain-text files or any dataset's text columns.

A ``.txt`` file gives one passage per non-blank line. A table (TSV, CSV, JSONL) gives every cell of its text
columns, each cell its own passage (a sentence pair's two sentences are two passages): the columns named by
the caller, else those of the first GLUE task whose text columns the file has. Labels are never read.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from shared.dataset_io import DatasetError, read_table, resolve_spec
from shared.tasks import GLUE_TASKS
from workers.distill.data import Example


def corpus_passages(path: str | Path, text_columns: Sequence[str] | None = None) -> list[str]:
    """The passages of one corpus file, in file order; DatasetError names the file when none can be found."""
    name = str(path)
    table = read_table(path)
    columns = tuple(text_columns) if text_columns else _text_columns(table.columns, table.format, name)
    spec = resolve_spec(table, text_columns=columns, label_column="", name=name)
    indices = [table.column_index(c) for c in spec.text_columns]
    return [row[i] for row in table.rows for i in indices if str(row[i]).strip()]


def _text_columns(columns: list[str], fmt: str, name: str) -> tuple[str, ...]:
    if fmt == "text":
        return (columns[0],)
    for preset in GLUE_TASKS.values():
        if all(c in columns for c in preset.text_columns):
            return preset.text_columns
    raise DatasetError(
        f"no text columns known for columns {columns}; name them (--text-columns, or the dataset's text_columns)",
        path=name,
    )


def encode_corpus(
    tokenizer, files: Sequence[str | Path], max_seq_len: int, text_columns: Sequence[str] | None = None
) -> list[Example]:
    """Every passage of ``files`` tokenised as one segment (truncated to ``max_seq_len``), unlabelled."""
    passages = [p for f in files for p in corpus_passages(f, text_columns)]
    if not passages:
        raise DatasetError(f"the corpus {[str(f) for f in files]} has no passages")
    enc = tokenizer(passages, truncation=True, max_length=max_seq_len)
    types = enc.get("token_type_ids")
    return [
        Example(tuple(ids), tuple(types[i]) if types is not None else None, None)
        for i, ids in enumerate(enc["input_ids"])
    ]

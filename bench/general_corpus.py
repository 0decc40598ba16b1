"""The offline corpus for general distillation: every train-split sentence of SST-2, MRPC, RTE and STS-B under
``../shared/data/glue``, unlabelled, one per line (a pair task's row gives both sentences). Never a dev split.

    .venv/bin/python -m bench.general_corpus [--glue ../shared/data/glue] [--output bench/quality/cache/general_corpus.txt]

Prints one JSON line: the file, its sentences per task and in total. Duplicates are kept (as in the tasks).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from shared.dataset_io import atomic_write_text, read_table
from shared.tasks import get_task

TASKS = {"SST-2": "sst-2", "MRPC": "mrpc", "RTE": "rte", "STS-B": "sts-b"}


def train_sentences(glue: Path, folder: str) -> list[str]:
    """The text cells of one task's train.tsv, row by row (never dev.tsv)."""
    preset = get_task(TASKS[folder])
    table = read_table(glue / folder / "train.tsv", task=preset.name)
    columns = [table.column_index(c) for c in preset.text_columns]
    return [" ".join(str(row[i]).split()) for row in table.rows for i in columns if str(row[i]).strip()]


def write_corpus(glue: Path, output: Path) -> dict[str, object]:
    counts, lines = {}, []
    for folder in TASKS:
        sentences = train_sentences(glue, folder)
        counts[folder] = len(sentences)
        lines.extend(sentences)
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output, [s + "\n" for s in lines])
    return {"output": str(output), "sentences": counts, "total": len(lines)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glue", type=Path, default=Path("../shared/data/glue"))
    parser.add_argument("--output", type=Path, default=Path("bench/quality/cache/general_corpus.txt"))
    args = parser.parse_args(argv)
    print(json.dumps(write_corpus(args.glue, args.output)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

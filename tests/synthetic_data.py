"""Synthetic GLUE-format files written by the tests themselves (helpers, not a test module).

The recovery, determinism, resume and DDP tests need *some* sentences in GLUE's file layout, not GLUE's
content, so they run on these and never depend on ../shared. The sentences are plain English words that
both the bert-base-uncased vocabulary and GloVe know, so tokenisation and word replacement are real.
Tests that need real GLUE content (accuracy well above chance, every real file validating) read ../shared.
"""

from __future__ import annotations

import random
from pathlib import Path

_GOOD = ["good", "great", "warm", "funny", "charming", "bright", "clever", "lovely", "moving", "smart"]
_BAD = ["bad", "dull", "cold", "boring", "weak", "awful", "silly", "empty", "tired", "poor"]
_NOUNS = ["film", "story", "actor", "plot", "music", "city", "teacher", "river", "house", "team", "game", "book"]
_VERBS = ["shows", "finds", "makes", "keeps", "brings", "leaves", "takes", "gives", "meets", "builds"]
_TAILS = ["today", "again", "at night", "in the end", "for years", "with care", "without doubt", "at home"]

#: Rows per split: enough for every test's largest sample (offsets included), small enough to write in ms.
ROWS = {"train": 240, "dev": 80}
#: The synthetic tasks, their GLUE folder names and header rows.
HEADERS = {
    "SST-2": "sentence\tlabel",
    "RTE": "index\tsentence1\tsentence2\tlabel",
    "MRPC": "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String",
    "STS-B": "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore",
}


def _sentence(rng: random.Random, adjective: str) -> str:
    words = ["the", adjective, rng.choice(_NOUNS), rng.choice(_VERBS), "a", rng.choice(_GOOD + _BAD)]
    words += [rng.choice(_NOUNS), rng.choice(_TAILS)]
    if rng.randrange(2):  # a second clause: some rows run past a short max_seq_len
        words += [
            "and",
            "the",
            rng.choice(_GOOD + _BAD),
            rng.choice(_NOUNS),
            rng.choice(_VERBS),
            "it",
            rng.choice(_TAILS),
        ]
    return " ".join(words) + " ."


def _row(task: str, rng: random.Random, i: int) -> str:
    label = rng.randrange(2)
    first = _sentence(rng, rng.choice(_GOOD if label else _BAD))
    second = _sentence(rng, rng.choice(_GOOD if rng.randrange(2) else _BAD))
    if task == "SST-2":
        return f"{first}\t{label}"
    if task == "RTE":
        return f"{i}\t{first}\t{second}\t{('not_entailment', 'entailment')[label]}"
    if task == "MRPC":  # quoted words like MRPC's (" the witness "), which the TSV reader must keep as text
        quoted = first.replace(" the ", ' " the ', 1).replace(" a ", ' " a ', 1) if i % 3 == 0 else first
        return f"{label}\t{1000 + i}\t{2000 + i}\t{quoted}\t{second}"
    score = f"{rng.randrange(0, 501) / 100:.3f}"
    return f"{i}\tmain-captions\tsynthetic\t2026\t{i:04d}\tnone\tnone\t{first}\t{second}\t{score}"


def write_synthetic_glue(root: Path, seed: int = 0) -> Path:
    """Write ``root/<TASK>/{train,dev}.tsv`` for SST-2, RTE, MRPC and STS-B in GLUE's exact layout."""
    for task, header in HEADERS.items():
        folder = root / task
        folder.mkdir(parents=True, exist_ok=True)
        for split, rows in ROWS.items():
            rng = random.Random(f"{seed}-{task}-{split}")
            lines = [header, *(_row(task, rng, i) for i in range(rows))]
            (folder / f"{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root

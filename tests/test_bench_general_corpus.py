"""bench/general_corpus.py: every train sentence of the four GLUE tasks, one per line, and no dev sentence."""

from __future__ import annotations

from pathlib import Path

from bench.general_corpus import TASKS, main, train_sentences
from shared.dataset_io import read_table


def test_the_corpus_holds_train_sentences_only(glue_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "corpus.txt"
    assert main(["--glue", str(glue_dir), "--output", str(out)]) == 0
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == sum(len(train_sentences(glue_dir, folder)) for folder in TASKS) > 80_000
    assert read_table(out).format == "text" and all(line.strip() for line in lines)
    corpus = set(lines)
    dev = read_table(glue_dir / "RTE" / "dev.tsv")
    assert " ".join(dev.rows[0][1].split()) not in corpus  # a dev sentence (not also in train) stays out
    assert "hide new secretions from the parental units" in corpus and '"total"' in capsys.readouterr().out

"""`distillery distill-general` end to end (in-process, the console script's entry point): a .txt corpus and
a GLUE table in, a BertModel folder out, which `distillery distill --student-checkpoint` then starts from."""

from __future__ import annotations

import json
from pathlib import Path

from services.cli.main import main
from tests.distill_helpers import glue_sample, make_tiny_teacher
from tests.distill_job_helpers import tiny_encoder


def test_distill_general_then_distill_from_its_output(tmp_path: Path, glue_dir: Path, capsys) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("a gorgeous , witty film\nthe plot is thin\n\nit never drags\n" * 4, encoding="utf-8")
    rte = glue_sample(glue_dir, "RTE", "train", 4, tmp_path / "rte.tsv")
    out = tmp_path / "general"
    shape = ["--student-layers", "1", "--student-hidden", "32", "--student-heads", "4", "--student-intermediate", "64"]
    args = ["--teacher", str(tiny_encoder(tmp_path / "encoder")), "--corpus", str(corpus), str(rte)]
    args += ["--output", str(out), "--epochs", "1", "--batch-size", "8", "--device", "cpu", *shape]
    assert main(["distill-general", *args, "--student-init", "random"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["corpus"]["passages"] == 12 + 8 and summary["student"]["hidden"] == 32
    assert summary["student"]["init"]["used"] == "random"
    assert {"config.json", "model.safetensors", "tokenizer.json", "report.json"} <= {p.name for p in out.iterdir()}

    train = glue_sample(glue_dir, "SST-2", "train", 16, tmp_path / "train.tsv")
    task = ["--teacher", str(make_tiny_teacher(tmp_path / "teacher")), "--train", str(train), "--task", "sst-2"]
    task += ["--output", str(tmp_path / "student"), "--student-checkpoint", str(out), "--device", "cpu"]
    assert main(["distill", *task, "--stage1-epochs", "1", "--stage2-epochs", "1", "--batch-size", "8"]) == 0
    report = json.loads((tmp_path / "student" / "report.json").read_text())
    assert report["student"]["checkpoint"] == str(out) and report["student"]["layers"] == 1


def test_bad_input_exits_2_with_one_line(tmp_path: Path, capsys) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    args = ["--teacher", str(tiny_encoder(tmp_path / "encoder")), "--corpus", str(empty), "--output", str(tmp_path)]
    assert main(["distill-general", *args, "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert "empty.txt" in err and "Traceback" not in err

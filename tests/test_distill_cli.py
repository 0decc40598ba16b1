"""`distillery finetune` / `distillery distill` as a user runs them: real subprocesses, exit codes, files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.cli.main import main
from tests.conftest import run_cli
from tests.distill_helpers import minilm_path, teacher_and_sst2


@pytest.fixture(scope="module")
def data(tmp_path_factory, synth_glue_dir: Path) -> dict[str, Path]:
    return teacher_and_sst2(tmp_path_factory.mktemp("cli"), synth_glue_dir, train=48, dev=32)


def test_distill_runs_and_prints_a_summary(data) -> None:
    out = data["root"] / "student"
    r = run_cli(
        "distill",
        "--teacher",
        str(data["teacher"]),
        "--train",
        str(data["train"]),
        "--dev",
        str(data["dev"]),
        "--task",
        "sst-2",
        "--output",
        str(out),
        "--stage1-epochs",
        "1",
        "--stage2-epochs",
        "1",
        "--student-layers",
        "1",
        "--student-hidden",
        "32",
        "--student-heads",
        "4",
        "--student-intermediate",
        "64",
        "--batch-size",
        "16",
        "--device",
        "cpu",
        "--allow-weak-teacher",  # a random teacher; the refusal is tested below
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert "accuracy" in summary["student_dev"] and summary["student_params"] < summary["teacher_params"]
    assert (out / "report.json").exists() and (out / "config.json").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--teacher", "ENCODER"], "no sequence-classification head"),
        (["--train", "EMPTY"], "empty"),
        (["--layer-map", "1,9,10,11"], "does not exist"),
        (["--task", "sst-3"], "unknown task"),
        (["--weights", "1,x"], "--weights"),
        (["--student-hidden", "30", "--student-heads", "4"], "--student-hidden: 30 is not a multiple of heads=4"),
        (["--student-layers", "0"], "--student-layers"),
    ],
)
def test_distill_errors_exit_2_without_traceback(data, capsys, extra: list[str], message: str) -> None:
    empty = data["root"] / "empty.tsv"
    empty.write_text("")
    args = {
        "--teacher": str(data["teacher"]),
        "--train": str(data["train"]),
        "--task": "sst-2",
        "--output": str(data["root"] / "bad"),
    }
    for flag, value in zip(extra[::2], extra[1::2]):
        args[flag] = {"ENCODER": minilm_path(), "EMPTY": str(empty)}.get(value, value)
    # in-process: the same entry point as the console script, without paying a new interpreter per case
    assert main(["distill", *[x for kv in args.items() for x in kv]]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_a_weak_teacher_exits_2_with_both_figures(data, capsys) -> None:
    args = ["--teacher", str(data["teacher"]), "--train", str(data["train"]), "--dev", str(data["dev"])]
    args += ["--task", "sst-2", "--output", str(data["root"] / "weak"), "--student-layers", "1", "--device", "cpu"]
    args += ["--student-hidden", "32", "--student-heads", "4", "--student-intermediate", "64"]
    assert main(["distill", *args]) == 2
    err = capsys.readouterr().err
    assert "error: weak teacher: dev accuracy" in err and "majority-class baseline" in err
    assert "--allow-weak-teacher" in err and "Traceback" not in err


def test_finetune_bad_file_exits_2(data, capsys) -> None:
    bad = data["root"] / "bad.tsv"
    bad.write_text("sentence\tlabel\nok\t1\nhmm\t7\n")
    code = main(
        [
            "finetune",
            "--model",
            minilm_path(),
            "--train",
            str(bad),
            "--task",
            "sst-2",
            "--output",
            str(data["root"] / "ft"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "row 2" in err and "Traceback" not in err

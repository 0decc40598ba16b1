"""Bad flags and output paths are refused (one line, exit 2) before any model loads or any work runs."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import pytest

from services.cli.main import main
from workers.distill.progress import ProgressEvent


@pytest.fixture
def files(tmp_path: Path, synth_glue_dir: Path, tiny_mlm_dir: Path) -> dict[str, Path]:
    model = tmp_path / "model"
    shutil.copytree(tiny_mlm_dir, model)
    train = tmp_path / "train.tsv"
    shutil.copy(synth_glue_dir / "SST-2" / "train.tsv", train)
    return {"root": tmp_path, "model": model, "train": train}


def refused(capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def finetune(f: dict[str, Path], output: Path | str, *extra: str) -> list[str]:
    return ["finetune", "--model", str(f["model"]), "--train", str(f["train"]), "--task", "sst-2"] + [
        "--output",
        str(output),
        *extra,
    ]


def distill(f: dict[str, Path], output: Path | str, *extra: str) -> list[str]:
    return ["distill", "--teacher", str(f["model"]), "--train", str(f["train"]), "--task", "sst-2"] + [
        "--output",
        str(output),
        *extra,
    ]


def general(f: dict[str, Path], output: Path | str, *extra: str) -> list[str]:
    return ["distill-general", "--teacher", str(f["model"]), "--corpus", str(f["train"]), "--output", str(output)] + [
        *extra
    ]


def test_output_that_is_an_input_is_refused(files, capsys) -> None:
    f = files
    before = sorted(p.name for p in f["model"].iterdir())
    refused(capsys, distill(f, f["model"]), "--output is the same as --teacher")
    refused(capsys, distill(f, f["model"] / "student"), "is inside the --teacher folder")
    refused(capsys, finetune(f, f["model"]), "--output is the same as --model")
    refused(capsys, finetune(f, f["train"]), "is a file, not a folder")
    refused(capsys, general(f, f["model"]), "--output is the same as --teacher")
    out = f["root"] / "out.tsv"
    refused(capsys, ["augment", "--input", str(f["train"]), "--output", str(f["train"]), "--task", "sst-2"], "same")
    argv = ["predict", "--model", str(f["model"]), "--input", str(f["train"]), "--task", "sst-2", "--output"]
    refused(capsys, [*argv, str(f["train"])], "--output is the same as --input")
    refused(capsys, [*argv, str(f["model"] / "config.json")], "is inside the --model folder")
    assert sorted(p.name for p in f["model"].iterdir()) == before and not out.exists()


def test_output_path_that_cannot_be_written_is_refused_up_front(files, capsys) -> None:
    f = files
    a_file = f["root"] / "a-file"
    a_file.write_text("x")
    refused(capsys, finetune(f, a_file), "is a file, not a folder")
    refused(capsys, distill(f, a_file / "sub"), "is a file, not a folder")
    refused(capsys, general(f, a_file), "is a file, not a folder")
    argv = ["--input", str(f["train"]), "--task", "sst-2", "--output", str(f["root"])]
    refused(capsys, ["augment", *argv], "is a folder; give a file name")
    refused(capsys, ["predict", "--model", str(f["model"]), *argv], "is a folder; give a file name")


def test_a_checkpoint_in_output_needs_resume(files, capsys) -> None:
    f = files
    out = f["root"] / "student"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"a checkpoint")
    refused(capsys, distill(f, out), "pass --resume to continue it, or remove it")
    refused(capsys, general(f, out), "pass --resume to continue it, or remove it")
    assert (out / "checkpoint.pt").read_bytes() == b"a checkpoint"


@pytest.mark.parametrize(
    "command, flags, message",
    [
        ("finetune", ["--epochs", "0"], "--epochs 0: input should be greater than or equal to 1"),
        ("finetune", ["--epochs", "-1"], "--epochs -1"),
        ("finetune", ["--batch-size", "0"], "--batch-size 0"),
        ("finetune", ["--lr", "-1"], "--lr -1.0: input should be greater than 0"),
        ("finetune", ["--max-seq-len", "0"], "--max-seq-len 0"),
        ("finetune", ["--max-seq-len", "7"], "--max-seq-len 7: input should be greater than or equal to 8"),
        ("finetune", ["--max-seq-len", "513"], "--max-seq-len 513"),
        ("distill", ["--lr1", "-1"], "--lr1 -1.0"),
        ("distill", ["--checkpoint-every", "0"], "--checkpoint-every 0"),
        ("distill", ["--stage2-epochs", "-1"], "--stage2-epochs -1"),
        ("distill", ["--seed", "-1"], "--seed -1"),
        ("distill", ["--weights", "1,1,1"], "--weights '1,1,1': give four numbers"),
        ("distill", ["--weights", "1,1,1,1,1"], "give four numbers"),
        ("distill-general", ["--epochs", "0"], "--epochs 0"),
        ("distill-general", ["--max-seq-len", "4"], "--max-seq-len 4"),
        ("distill-general", ["--checkpoint-every", "0"], "--checkpoint-every 0"),
        ("distill-general", ["--student-layers", "0"], "--student-layers 0: input should be greater than or equal"),
        ("distill-general", ["--student-hidden", "4"], "--student-hidden 4"),
        ("distill-general", ["--student-hidden", "100", "--student-heads", "12"], "not a multiple of --student-heads"),
    ],
)
def test_flags_out_of_the_api_bounds_are_refused(files, capsys, command: str, flags: list[str], message: str) -> None:
    build = {"finetune": finetune, "distill": distill, "distill-general": general}[command]
    out = files["root"] / "out"
    refused(capsys, build(files, out, *flags), message)
    assert not out.exists()


def test_up_refuses_bad_workers_and_a_busy_port(capsys) -> None:
    refused(capsys, ["up", "--workers", "0"], "--workers must be at least 1, got 0")
    refused(capsys, ["up", "--workers", "-1"], "--workers must be at least 1, got -1")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["up", "--host", "127.0.0.1", "--port", str(port)]) == 2
    captured = capsys.readouterr()
    assert f"cannot listen on 127.0.0.1:{port}" in captured.err and "Distillery is up" not in captured.out


def test_an_evaluation_without_metrics_prints_no_line(capsys) -> None:
    from services.cli.progress_bar import TqdmProgress

    bar = TqdmProgress(disable=True)
    bar(ProgressEvent("evaluate", 1, 3, 3, metrics={}))
    bar(ProgressEvent("evaluate", 1, 3, 3, metrics={"accuracy": 0.5}))
    assert capsys.readouterr().err.splitlines() == ["evaluate after epoch 1: accuracy 0.5000"]

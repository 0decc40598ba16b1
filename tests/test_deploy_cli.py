"""`distillery evaluate`, `predict` and `export` as a user runs them: real subprocesses, exit codes, files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from shared.dataset_io import read_table
from tests.conftest import REPO_ROOT, run_cli
from tests.distill_helpers import teacher_and_sst2


@pytest.fixture(scope="module")
def data(tmp_path_factory, glue_dir: Path) -> dict[str, Path]:
    return teacher_and_sst2(tmp_path_factory.mktemp("deploy-cli"), glue_dir, "model", dev=24)


@pytest.fixture(scope="module")
def exported(data: dict[str, Path]) -> Path:
    out = data["root"] / "export"
    done = run_cli("export", "--model", data["model"], "--output", out, "--check", data["dev"], "--task", "sst-2")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert set(summary["files"]) == {"model.onnx", "model-int8.onnx"}
    assert summary["files"]["model-int8.onnx"]["dev"]["accuracy"] >= 0
    return out


def test_evaluate_json_for_a_folder_and_an_int8_file(data: dict[str, Path], exported: Path) -> None:
    results = []
    for model in (data["model"], exported / "model-int8.onnx"):
        done = run_cli(
            "evaluate",
            "--model",
            model,
            "--data",
            data["dev"],
            "--task",
            "sst-2",
            "--threads",
            "1",
            "--json",
            DISTILLERY_PRECISION="fp32",
        )
        assert done.returncode == 0, done.stderr
        results.append(json.loads(done.stdout))
    assert [(r["runtime"], r["precision"]) for r in results] == [("pytorch", "fp32"), ("onnx", "as stored")]
    for r in results:
        assert r["rows"] == 24 and r["rows_per_s"] > 0 and set(r["latency_ms"]) == {"batch_1", "batch_32"}
    assert abs(results[0]["metrics"]["accuracy"] - results[1]["metrics"]["accuracy"]) <= 0.1


def test_evaluate_text_output(data: dict[str, Path], exported: Path) -> None:
    done = run_cli("evaluate", "--model", exported, "--data", data["dev"], "--task", "sst-2")
    assert done.returncode == 0, done.stderr
    assert "metrics: accuracy" in done.stdout and "rows/s" in done.stdout and "batch 32" in done.stdout


def test_predict_writes_input_columns_plus_predictions_without_labels(data: dict[str, Path], exported: Path) -> None:
    unlabelled = data["root"] / "texts.csv"
    rows = read_table(data["dev"]).rows
    unlabelled.write_text("text\n" + "".join(f'"{r[0]}"\n' for r in rows))
    out = data["root"] / "pred.csv"
    done = run_cli("predict", "--model", exported, "--input", unlabelled, "--output", out, "--text-column", "text")
    assert done.returncode == 0, done.stderr
    table = read_table(out)
    assert table.columns == ["text", "prediction", "prob_0", "prob_1"] and len(table.rows) == 24
    assert [r[0] for r in table.rows] == [r[0] for r in rows]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            (
                "predict",
                "--model",
                "{model}",
                "--input",
                "{root}/none.tsv",
                "--output",
                "{root}/o.tsv",
                "--task",
                "sst-2",
            ),
            "{root}/none.tsv: no such file",
        ),
        (("evaluate", "--model", "{root}/missing", "--data", "{dev}", "--task", "sst-2"), "{root}/missing: no such"),
        (("export", "--model", "{root}", "--output", "{root}/o"), "{root}/config.json: no such file"),
        (
            ("evaluate", "--model", "{model}", "--data", "{dev}", "--task", "sst-2", "--max-seq-len", "4096"),
            "--max-seq-len 4096 exceeds the model's 128 positions",
        ),
        (
            ("evaluate", "--model", "{model}", "--data", "{dev}", "--task", "sst-2", "--batch-size", "0"),
            "--batch-size must be at least 1",
        ),
    ],
)
def test_bad_input_exits_2_with_one_line(data: dict[str, Path], args: tuple[str, ...], message: str) -> None:
    fill = {k: str(v) for k, v in data.items()}
    done = run_cli(*(a.format(**fill) for a in args))
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and message.format(**fill) in done.stderr


def test_a_corrupt_onnx_file_exits_2_naming_it(data: dict[str, Path], exported: Path) -> None:
    broken = data["root"] / "broken"
    broken.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (broken / name).write_bytes((exported / name).read_bytes())
    (broken / "model.onnx").write_bytes(b"\x08\x07garbage")
    done = run_cli(
        "predict", "--model", broken, "--input", data["dev"], "--output", broken / "o.tsv", "--task", "sst-2"
    )
    assert done.returncode == 2 and f"{broken / 'model.onnx'}: not a readable ONNX model" in done.stderr


def test_precision_bf16_casts_a_pytorch_folder_and_is_refused_for_onnx_or_without_bf16(
    data: dict[str, Path], exported: Path
) -> None:
    args = ("evaluate", "--data", data["dev"], "--task", "sst-2", "--precision", "bf16", "--json")
    done = run_cli(*args, "--model", data["model"], DISTILLERY_BF16_DETECT="on")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["precision"] == "bf16" and "bf16 asked for" in report["precision_reason"]
    refused = run_cli(*args, "--model", data["model"], DISTILLERY_BF16_DETECT="off")
    assert refused.returncode == 2 and "no bf16 support" in refused.stderr
    onnx = run_cli(*args, "--model", exported / "model-int8.onnx", DISTILLERY_BF16_DETECT="on")
    assert onnx.returncode == 2 and "runs at the precision it was exported with" in onnx.stderr


def test_refusals_decided_by_the_files_import_neither_torch_nor_transformers(data: dict[str, Path]) -> None:
    """A typo'd folder, an impossible bf16 or a --max-seq-len past the position table is answered before the
    seconds of torch and transformers imports (run_checked's and export's preflight)."""
    script = (
        "import sys; from services.cli.main import main; "
        "codes = [main(a) for a in ({!r}, {!r}, {!r})]; "
        "print(codes, [m for m in ('torch', 'transformers') if m in sys.modules])"
    )
    runs = (
        ["export", "--model", str(data["root"]), "--output", str(data["root"] / "o")],
        ["evaluate", "--model", str(data["model"]), "--data", str(data["dev"]), "--task", "sst-2", "--precision", "bf16"],
        ["predict", "--model", str(data["model"]), "--input", str(data["dev"]), "--output", str(data["root"] / "p.tsv"),
         "--max-seq-len", "4096"],
    )  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "DISTILLERY_BF16_DETECT": "off", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", script.format(*runs)], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert done.stdout.strip() == "[2, 2, 2] []", done.stdout + done.stderr
    assert done.stderr.count("error:") == 3 and "no bf16 support" in done.stderr and "exceeds" in done.stderr

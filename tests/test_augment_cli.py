"""`distillery augment` through the real command entry point: good files, bad files, real models."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from services.cli.main import main

GOOD_TSV = "sentence\tlabel\na charming and often affecting journey .\t1\nunflinchingly bleak and desperate\t0\n"


def run_cli(tmp_path: Path, mlm: Path, *args: str) -> int:
    return main(["augment", "--mlm-model", str(mlm), "--device", "cpu", "--n", "4", *args])


@pytest.mark.parametrize(
    ("name", "content", "args", "message"),
    [
        ("missing.tsv", GOOD_TSV.encode(), ["--text-column", "text", "--label-column", "label"], "column 'text'"),
        ("ragged.tsv", b"sentence\tlabel\ngood movie\t1\nbad movie\n", ["--task", "sst-2"], "line 3, row 2"),
        ("latin1.tsv", "sentence\tlabel\ncaf\xe9 ok\t1\n".encode("latin-1"), ["--task", "sst-2"], "not valid UTF-8"),
        ("empty.tsv", b"", ["--task", "sst-2"], "the file is empty"),
        ("header.tsv", b"sentence\tlabel\n", ["--task", "sst-2"], "no data rows"),
        ("task.tsv", GOOD_TSV.encode(), ["--task", "sst-3"], "unknown task 'sst-3'"),
        ("label.tsv", b"sentence\tlabel\ngood movie\t7\n", ["--task", "sst-2"], "label '7'"),
        ("bad.json", GOOD_TSV.encode(), ["--task", "sst-2"], "cannot tell the format"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(
    tmp_path: Path, tiny_mlm_dir: Path, capsys: pytest.CaptureFixture[str], name, content, args, message
) -> None:
    source = tmp_path / name
    source.write_bytes(content)
    output = tmp_path / "out" / "augmented.tsv"
    code = run_cli(tmp_path, tiny_mlm_dir, "--input", str(source), "--output", str(output), *args)
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err
    assert not output.exists() and not (output.parent.exists() and any(output.parent.iterdir()))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--mlm-model", "./no/such/model"], "no such folder"),
        (["--glove", "/no/such/glove.txt"], "not found"),
        (["--p", "2"], "p must be between 0 and 1"),
    ],
)
def test_bad_model_or_parameter_is_a_clear_error(
    tmp_path: Path, tiny_mlm_dir: Path, capsys: pytest.CaptureFixture[str], args, message
) -> None:
    source = tmp_path / "in.tsv"
    source.write_text(GOOD_TSV, encoding="utf-8")
    output = tmp_path / "out.tsv"
    code = run_cli(tmp_path, tiny_mlm_dir, "--input", str(source), "--output", str(output), "--task", "sst-2", *args)
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert not output.exists()


def test_csv_and_jsonl_keep_their_format(tmp_path: Path, tiny_mlm_dir: Path) -> None:
    csv_in = tmp_path / "in.csv"
    csv_in.write_text('id,text,label\n1,"a charming, affecting journey",pos\n2,bleak and desperate,neg\n')
    csv_out = tmp_path / "out.csv"
    args = ["--text-column", "text", "--label-column", "label"]
    assert run_cli(tmp_path, tiny_mlm_dir, "--input", str(csv_in), "--output", str(csv_out), *args) == 0
    lines = csv_out.read_text().splitlines()
    assert lines[0] == "id,text,label" and lines[1] == '1,"a charming, affecting journey",pos'
    assert len(lines) > 3

    jsonl_in = tmp_path / "in.jsonl"
    jsonl_in.write_text(
        json.dumps({"text": "a charming journey", "label": 1, "meta": {"x": [1]}})
        + "\n"
        + json.dumps({"text": "bleak and desperate", "label": 0, "meta": None})
        + "\n"
    )
    jsonl_out = tmp_path / "out.jsonl"
    assert run_cli(tmp_path, tiny_mlm_dir, "--input", str(jsonl_in), "--output", str(jsonl_out), *args) == 0
    records = [json.loads(line) for line in jsonl_out.read_text().splitlines()]
    assert records[0] == {"text": "a charming journey", "label": 1, "meta": {"x": [1]}}
    assert {r["label"] for r in records} == {0, 1} and len(records) > 2


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_output_is_byte_identical_across_batch_sizes(
    tmp_path: Path,
    tiny_mlm_dir: Path,
    synth_glue_dir: Path,
    precision: str,
    bf16_detect: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """fp32 and bf16 alike: the same bytes at batch sizes 1 and 64, and again at 64 (a fixed seed)."""
    bf16_detect("on")  # bf16 runs (slowly) on a CPU without the flags too
    lines = (synth_glue_dir / "SST-2" / "dev.tsv").read_text(encoding="utf-8").splitlines(keepends=True)[:13]
    source = tmp_path / "sample.tsv"
    source.write_text("".join(lines), encoding="utf-8")
    outputs = []
    for i, batch in enumerate(("1", "64", "64")):
        out = tmp_path / f"out-{i}.tsv"
        args = ["--input", str(source), "--output", str(out), "--task", "sst-2", "--batch-size", batch]
        assert run_cli(tmp_path, tiny_mlm_dir, *args, "--precision", precision) == 0
        assert f"precision {precision} ({precision} asked for" in capsys.readouterr().out
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_mrpc_sample_keeps_the_bom_and_header(
    tmp_path: Path, tiny_mlm_dir: Path, glue_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = (glue_dir / "MRPC" / "dev.tsv").read_bytes()
    source = tmp_path / "mrpc.tsv"
    source.write_bytes(b"".join(data.splitlines(keepends=True)[:5]))
    out = tmp_path / "mrpc-aug.tsv"
    assert run_cli(tmp_path, tiny_mlm_dir, "--input", str(source), "--output", str(out), "--task", "mrpc") == 0
    written = out.read_bytes()
    assert written.startswith(data.splitlines(keepends=True)[0])  # BOM + identical header line
    assert len(written.splitlines()) <= 1 + 4 * (1 + 2 * 4)
    assert "rows in 4, rows out" in capsys.readouterr().out


def test_sst2_sample_with_the_rough_mlm_and_real_glove(
    tmp_path: Path, minilm3_mlm_dir: Path, glue_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lines = (glue_dir / "SST-2" / "dev.tsv").read_text(encoding="utf-8").splitlines(keepends=True)[:9]
    source = tmp_path / "sst2.tsv"
    source.write_text("".join(lines), encoding="utf-8")
    out = tmp_path / "sst2-aug.tsv"
    code = main(
        [
            "augment",
            "--task",
            "sst-2",
            "--input",
            str(source),
            "--output",
            str(out),
            "--mlm-model",
            str(minilm3_mlm_dir),
            "--n",
            "5",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    summary = capsys.readouterr().out
    assert "rows in 8" in summary and "words replaced by MLM" in summary and "by GloVe" in summary
    rows = [line.split("\t") for line in out.read_text(encoding="utf-8").splitlines()]
    assert rows[0] == ["sentence", "label"] and 8 < len(rows) - 1 <= 8 * 6
    originals = {line.rstrip("\n") for line in lines[1:]}
    assert sum("\t".join(r) in originals for r in rows[1:]) == 8


def test_rough_mlm_output_is_byte_identical_across_batch_sizes(
    tmp_path: Path, minilm3_mlm_dir: Path, glue_dir: Path
) -> None:
    """Determinism on a trained masked LM (real SST-2 rows): two MLM batch sizes, the same bytes in the same order."""
    lines = (glue_dir / "SST-2" / "dev.tsv").read_text(encoding="utf-8").splitlines(keepends=True)[:9]
    source = tmp_path / "sst2.tsv"
    source.write_text("".join(lines), encoding="utf-8")
    outputs = []
    for batch in ("1", "48"):
        out = tmp_path / f"out-{batch}.tsv"
        args = ["augment", "--task", "sst-2", "--input", str(source), "--output", str(out), "--n", "4"]
        assert main([*args, "--mlm-model", str(minilm3_mlm_dir), "--batch-size", batch, "--device", "cpu"]) == 0
        outputs.append(out.read_bytes())
    assert len(outputs[0].splitlines()) > 9  # augmented rows were written
    assert outputs[0] == outputs[1]


def test_progress_in_a_log_file_is_plain_lines(capsys: pytest.CaptureFixture[str]) -> None:
    from services.cli.progress_bar import RowProgress

    with RowProgress(10, "augment", log_every_s=0.0) as progress:
        progress.update(4)
        progress.update(6)  # the last update prints nothing: the summary line follows
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("augment: 4/10 rows,") and "rows/s, ETA" in lines[0]

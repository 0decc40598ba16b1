"""export_job_model: the exports section of a job's result and report.json, and a failure that spares the model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.distill_helpers import glue_sample, make_tiny_teacher
from workers.deploy.job_exports import export_job_model


def test_exports_land_beside_the_model_and_in_report_json(tmp_path: Path, glue_dir: Path) -> None:
    model = make_tiny_teacher(tmp_path / "job" / "model")
    (model / "report.json").write_text(json.dumps({"task": "sst-2"}))
    dev = glue_sample(glue_dir, "SST-2", "dev", 12, tmp_path / "dev.tsv")
    lines: list[str] = []
    section = export_job_model(model, tmp_path / "job" / "onnx", "sst-2", dev, log=lines.append)
    assert section["folder"] == "onnx" and section["checked_on"]["rows"] == 12
    assert set(section["files"]) == {"model.onnx", "model-int8.onnx"}
    assert "dev" in section["files"]["model-int8.onnx"] and "dev" in section["pytorch"]
    report = json.loads((model / "report.json").read_text())
    assert report["task"] == "sst-2" and report["exports"] == section
    assert any("quantizing" in line for line in lines)


def test_a_failed_export_is_recorded_and_leaves_the_model(tmp_path: Path, minilm3_mlm_dir: Path) -> None:
    model = tmp_path / "job" / "model"
    shutil.copytree(minilm3_mlm_dir, model)
    (model / "report.json").write_text("{}")
    section = export_job_model(model, tmp_path / "job" / "onnx", "sst-2", None)
    assert set(section) == {"error"} and "is not a sequence classifier" in section["error"]
    assert json.loads((model / "report.json").read_text())["exports"] == section
    assert (model / "config.json").is_file()

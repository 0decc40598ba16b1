"""export_model: the folder it writes, what export.json records, and the refusals naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

from tests.deploy_helpers import tiny_export
from workers.deploy.errors import DeployError
from workers.deploy.export_run import ExportOptions, export_model


@pytest.fixture(scope="module")
def sst(tmp_path_factory, glue_dir: Path) -> dict:
    return tiny_export(tmp_path_factory.mktemp("export"), glue_dir)


def test_folder_holds_both_models_tokenizer_config_and_report(sst: dict) -> None:
    names = {p.name for p in sst["export"].iterdir()}
    assert {"model.onnx", "model-int8.onnx", "config.json", "tokenizer.json", "export.json"} <= names
    on_disk = json.loads((sst["export"] / "export.json").read_text())
    assert on_disk == json.loads(json.dumps(sst["report"]))


def test_report_records_sizes_logit_diffs_and_dev_metrics_of_each_file(sst: dict) -> None:
    files = sst["report"]["files"]
    fp32, int8 = files["model.onnx"], files["model-int8.onnx"]
    assert fp32["bytes"] == (sst["export"] / "model.onnx").stat().st_size
    assert int8["bytes"] < fp32["bytes"] / 2  # int8 weights: about a quarter
    assert fp32["max_abs_logit_diff"] < 1e-4
    assert 0 < int8["max_abs_logit_diff"] < 1.0
    assert sst["report"]["check"]["rows"] == 40
    pytorch_acc = sst["report"]["pytorch"]["dev"]["accuracy"]
    assert fp32["dev"]["accuracy"] == pytorch_acc
    assert abs(int8["dev"]["accuracy"] - pytorch_acc) <= 0.1


def test_graph_has_opset_17_and_inputs_named_as_the_tokenizer_names_them(sst: dict) -> None:
    from transformers import AutoTokenizer

    graph = onnx.load(str(sst["export"] / "model.onnx"))
    assert max(o.version for o in graph.opset_import if o.domain in ("", "ai.onnx")) >= 17
    names = [i.name for i in graph.graph.input]
    assert names == list(AutoTokenizer.from_pretrained(str(sst["model"])).model_input_names)
    for inp in graph.graph.input:
        dims = inp.type.tensor_type.shape.dim
        assert [d.dim_param for d in dims] == ["batch", "sequence"]


def test_quantize_none_writes_only_fp32_and_checks_builtin_sentences(sst: dict, tmp_path: Path) -> None:
    report = export_model(sst["model"], tmp_path / "out", ExportOptions(quantize="none", check_rows=5))
    assert not (tmp_path / "out" / "model-int8.onnx").exists()
    assert list(report["files"]) == ["model.onnx"]
    assert report["check"]["rows"] == 5 and "dev" not in report["files"]["model.onnx"]


def test_regression_head_exports_with_its_metrics(tmp_path: Path, glue_dir: Path) -> None:
    sts = tiny_export(tmp_path, glue_dir, task="sts-b", folder="STS-B", rows=24)
    fp32 = sts["report"]["files"]["model.onnx"]
    assert set(fp32["dev"]) == {"pearson", "spearman"} and "same_prediction" not in fp32
    assert np.isclose(fp32["dev"]["pearson"], sts["report"]["pytorch"]["dev"]["pearson"], atol=1e-4)


def test_refuses_a_folder_that_is_not_a_sequence_classifier(minilm3_mlm_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(DeployError, match=r"config\.json: architectures \['BertForMaskedLM'\] is not a sequence"):
        export_model(minilm3_mlm_dir, tmp_path / "out", ExportOptions())
    assert not (tmp_path / "out").exists()


def test_refuses_a_folder_without_tokenizer(sst: dict, tmp_path: Path) -> None:
    folder = tmp_path / "no-tokenizer"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        (folder / name).write_bytes((sst["model"] / name).read_bytes())
    with pytest.raises(DeployError, match=f"{folder}: no tokenizer files"):
        export_model(folder, tmp_path / "out", ExportOptions())


def test_check_file_needs_a_task(sst: dict, tmp_path: Path) -> None:
    with pytest.raises(DeployError, match="--check needs --task"):
        export_model(sst["model"], tmp_path / "out", ExportOptions(check=sst["dev"]))

"""load_model: a PyTorch folder, an export folder or an .onnx file behind one interface; refusals by name."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.deploy_helpers import tiny_export
from workers.deploy.errors import DeployError
from workers.deploy.inputs import numpy_batch, text_examples
from workers.deploy.loading import load_model


@pytest.fixture(scope="module")
def sst(tmp_path_factory, glue_dir: Path) -> dict:
    return tiny_export(tmp_path_factory.mktemp("loading"), glue_dir, rows=8)


def _logits(path: Path | str) -> np.ndarray:
    model = load_model(path, threads=1)
    examples = text_examples(model.tokenizer, ["a fine film", "dull , dull , dull and far too long"], 64)
    return model.predictor.logits(numpy_batch(examples, model.tokenizer.pad_token_id))


def test_every_form_loads_with_labels_and_agrees(sst: dict) -> None:
    torch_model = load_model(sst["model"])
    export_dir = load_model(sst["export"])
    int8_file = load_model(sst["export"] / "model-int8.onnx")
    assert (torch_model.kind, export_dir.kind, int8_file.kind) == ("pytorch", "onnx", "onnx")
    assert torch_model.labels == export_dir.labels == int8_file.labels == ("0", "1")
    reference = _logits(sst["model"])
    assert np.allclose(_logits(sst["export"]), reference, atol=1e-4)
    assert np.allclose(_logits(sst["export"] / "model-int8.onnx"), reference, atol=0.5)


def test_bare_onnx_file_without_config_numbers_its_classes(sst: dict, tmp_path: Path) -> None:
    for name in ("model.onnx", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(sst["export"] / name, tmp_path / name)
    assert load_model(tmp_path / "model.onnx").labels == ("0", "1")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d, src: None, r"no such file or folder"),
        (lambda d, src: d.mkdir(), r"neither a save_pretrained model folder"),
        (lambda d, src: (d.mkdir(), (d / "model.onnx").write_bytes(b"not a graph")), r"no tokenizer files"),
    ],
)
def test_refusals_name_the_path(sst: dict, tmp_path: Path, make, message: str) -> None:
    target = tmp_path / "m"
    make(target, sst)
    with pytest.raises(DeployError, match=re.escape(f"{target}: ") + message):
        load_model(target)


def test_corrupt_onnx_file_is_refused_by_name(sst: dict, tmp_path: Path) -> None:
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        shutil.copy(sst["export"] / name, tmp_path / name)
    (tmp_path / "model.onnx").write_bytes((sst["export"] / "model.onnx").read_bytes()[:5000])
    with pytest.raises(DeployError, match=f"{tmp_path / 'model.onnx'}: not a readable ONNX model"):
        load_model(tmp_path)


def test_non_onnx_file_and_non_classifier_are_refused(sst: dict, minilm3_mlm_dir: Path) -> None:
    with pytest.raises(DeployError, match=r"dev\.tsv: not an \.onnx file"):
        load_model(sst["dev"])
    with pytest.raises(DeployError, match="is not a sequence classifier"):
        load_model(minilm3_mlm_dir)

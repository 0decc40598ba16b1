"""evaluate/latencies: the distillation's metrics on every form of a model, and latency after warm-up."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from shared.tasks import get_task
from tests.deploy_helpers import tiny_export
from workers.deploy.evaluation import evaluate, latencies
from workers.deploy.inputs import labelled_examples
from workers.deploy.loading import load_model
from workers.distill.evaluate import evaluate as distill_evaluate


@pytest.fixture(scope="module")
def mrpc(tmp_path_factory, glue_dir: Path) -> dict:
    return tiny_export(tmp_path_factory.mktemp("evaluation"), glue_dir, task="mrpc", folder="MRPC", rows=30)


def test_metrics_match_the_distillation_report_for_pytorch_and_onnx(mrpc: dict) -> None:
    preset = get_task("mrpc")
    torch_model = load_model(mrpc["model"])
    examples = labelled_examples(torch_model.tokenizer, mrpc["dev"], preset)
    expected = distill_evaluate(
        torch_model.predictor.model, examples, preset, 8, torch_model.tokenizer.pad_token_id, torch.device("cpu")
    )
    for form in (mrpc["model"], mrpc["export"] / "model.onnx"):
        result = evaluate(load_model(form), examples, preset, 8)
        assert result["metrics"] == pytest.approx(expected, abs=1e-6)
        assert list(result["metrics"]) == ["f1", "accuracy"]
        assert result["rows"] == 30 and result["rows_per_s"] > 0


def test_latency_at_each_batch_size(mrpc: dict) -> None:
    model = load_model(mrpc["export"] / "model-int8.onnx", threads=1)
    examples = labelled_examples(model.tokenizer, mrpc["dev"], get_task("mrpc"))
    result = latencies(model, examples, (1, 32), warmup=1, repeats=3)
    assert set(result) == {"batch_1", "batch_32"} and all(v > 0 for v in result.values())

"""The deploy path's fixes: a model's head against the task, fp32 loading, the trained sequence length, the text
columns a task reads, a clean re-export, and multi-label heads refused (tiny real models, no mocks)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoTokenizer, BertForSequenceClassification

from shared.dataset_io import read_table, write_table
from shared.tasks import get_task
from tests.conftest import run_cli
from tests.distill_helpers import glue_sample, make_tiny_teacher
from workers.deploy.errors import DeployError
from workers.deploy.evaluation import evaluate
from workers.deploy.export_run import ExportOptions, export_model
from workers.deploy.inputs import labelled_examples, numpy_batch
from workers.deploy.job_exports import export_job_model
from workers.deploy.loading import load_model, load_torch_classifier, read_config
from workers.deploy.prediction_jobs import check_text_columns, source_max_seq_len
from workers.deploy.task_fit import fit_to_task
from workers.distill.label_order import LabelMismatch, task_label_order
from workers.orchestration.errors import InvalidRequest

MNLI = get_task("mnli")  # contradiction, entailment, neutral


@pytest.fixture(scope="module")
def mnli(tmp_path_factory, glue_dir: Path) -> dict[str, Path]:
    """A tiny MNLI model in the task's order, the same model saved as a hub model orders its labels, and a
    12-row MNLI-layout dev file (RTE's sentence pairs with the three labels in turn)."""
    root = tmp_path_factory.mktemp("task-fit")
    model = make_tiny_teacher(root / "mnli", task="mnli", seed=4)
    hub = BertForSequenceClassification.from_pretrained(model)
    names, rows = ["ENTAILMENT", "Neutral", "contradiction"], [1, 2, 0]  # hub output i = task output rows[i]
    with torch.no_grad():
        hub.classifier.weight.copy_(hub.classifier.weight[rows])
        hub.classifier.bias.copy_(hub.classifier.bias[rows])
    hub.config.id2label = dict(enumerate(names))
    hub.config.label2id = {name: i for i, name in enumerate(names)}
    hub.save_pretrained(root / "hub")
    AutoTokenizer.from_pretrained(model).save_pretrained(root / "hub")
    rte = read_table(glue_sample(glue_dir, "RTE", "dev", 12, root / "rte.tsv"))
    pairs = [[r[rte.column_index("sentence1")], r[rte.column_index("sentence2")]] for r in rte.rows]
    labels = MNLI.labels or ()
    rows3 = [[*p, labels[i % 3]] for i, p in enumerate(pairs)]
    dev = rte.__class__(["sentence1", "sentence2", "gold_label"], rows3, "tsv")
    write_table(dev, root / "dev.tsv")
    return {"root": root, "model": model, "hub": root / "hub", "dev": root / "dev.tsv"}


# --- 1. the head against the task -------------------------------------------------------------------------


def test_label_order_matching_is_case_blind_and_takes_generic_names_as_they_are() -> None:
    task = ("contradiction", "entailment", "neutral")
    assert task_label_order(["ENTAILMENT", "Neutral", "contradiction"], task) == [2, 0, 1]
    assert task_label_order(list(task), task) is None
    assert task_label_order(["LABEL_0", "LABEL_1", "LABEL_2"], task) is None
    with pytest.raises(LabelMismatch):
        task_label_order(["yes", "maybe", "no"], task)


def test_a_hub_model_with_another_label_order_is_scored_in_the_tasks_order(mnli: dict[str, Path]) -> None:
    ours, hub = load_model(mnli["model"]), load_model(mnli["hub"])
    examples = labelled_examples(ours.tokenizer, mnli["dev"], MNLI)
    batch = numpy_batch(examples, 0)
    assert not np.allclose(ours.predictor.logits(batch), hub.predictor.logits(batch))
    fitted = fit_to_task(hub, MNLI)
    assert fitted.labels == MNLI.labels
    assert np.allclose(fitted.predictor.logits(batch), ours.predictor.logits(batch), atol=1e-5)
    expected = evaluate(ours, examples, MNLI, 4)["metrics"]
    assert evaluate(fitted, examples, MNLI, 4)["metrics"] == expected
    report = export_model(
        mnli["hub"], mnli["root"] / "hub-export", ExportOptions(quantize="none", check=mnli["dev"], task="mnli")
    )
    assert report["pytorch"]["dev"] == pytest.approx(expected)
    assert report["files"]["model.onnx"]["dev"] == pytest.approx(expected)


def test_a_head_that_does_not_fit_the_task_exits_2_naming_both(mnli: dict[str, Path], glue_dir: Path) -> None:
    sts = glue_sample(glue_dir, "STS-B", "dev", 6, mnli["root"] / "sts.tsv")
    rte = mnli["root"] / "rte.tsv"
    cases = [
        (("evaluate", "--model", mnli["model"], "--data", sts, "--task", "sts-b"), "a regression head (one score)"),
        (("evaluate", "--model", mnli["model"], "--data", rte, "--task", "rte"), "task rte has 2 labels"),
        (("export", "--model", mnli["model"], "--output", mnli["root"] / "x", "--check", rte, "--task", "rte"), "3"),
    ]
    for args, message in cases:
        done = run_cli(*args)
        assert done.returncode == 2, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "the model has 3 labels" in done.stderr
        assert message in done.stderr
    assert not (mnli["root"] / "x").exists()


# --- 2. fp32 whatever config.json's dtype says ----------------------------------------------------------


def test_an_fp16_saved_folder_loads_in_fp32(mnli: dict[str, Path], tmp_path: Path) -> None:
    half = BertForSequenceClassification.from_pretrained(mnli["model"]).half()
    half.save_pretrained(tmp_path / "fp16")
    assert "float16" in (tmp_path / "fp16" / "config.json").read_text()
    model = load_torch_classifier(tmp_path / "fp16")
    assert {p.dtype for p in model.parameters()} == {torch.float32}


# --- 3. the trained sequence length -------------------------------------------------------------------------


def test_prediction_jobs_default_to_the_trained_length() -> None:
    assert source_max_seq_len({"type": "distillation", "params": {"max_seq_len": 48}}) == 48
    assert source_max_seq_len({"type": "pipeline", "params": {"distill": {"max_seq_len": 96}}}) == 96
    assert source_max_seq_len({"type": "finetune", "params": {}}) is None


def test_job_exports_check_at_the_length_in_report_json(mnli: dict[str, Path], tmp_path: Path) -> None:
    model = tmp_path / "model"
    shutil.copytree(mnli["model"], model)
    (model / "report.json").write_text(json.dumps({"config": {"max_seq_len": 24}}))
    section = export_job_model(model, tmp_path / "onnx", "mnli", mnli["dev"])
    assert section["checked_on"]["max_seq_len"] == 24, section


# --- 4. as many text columns as the task reads -------------------------------------------------------------


def test_a_pair_task_model_on_one_text_column_is_refused(mnli: dict[str, Path]) -> None:
    with pytest.raises(InvalidRequest, match=r"field 'dataset_id': dataset 'd1' has 1 text column\(s\)"):
        check_text_columns("mnli", ["sentence1"], "field 'dataset_id': dataset 'd1'")
    check_text_columns("mnli", ["sentence1", "sentence2"], "dataset")
    check_text_columns(None, ["sentence1"], "dataset")
    out = mnli["root"] / "pred.tsv"
    done = run_cli(
        "predict", "--model", mnli["model"], "--input", mnli["dev"], "--output", out, "--task", "mnli",
        "--text-column", "sentence1",
    )  # fmt: skip
    assert done.returncode == 2 and "task mnli reads 2 text column(s)" in done.stderr, done.stderr
    assert not out.exists()


# --- 5. a re-export leaves no stale files -------------------------------------------------------------------


def test_reexporting_without_int8_removes_the_earlier_int8_file(mnli: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "export"
    export_model(mnli["model"], out, ExportOptions(check_rows=2))
    assert (out / "model-int8.onnx").is_file()
    report = export_model(mnli["model"], out, ExportOptions(quantize="none", check_rows=2))
    assert not (out / "model-int8.onnx").exists() and list(report["files"]) == ["model.onnx"]


# --- 6. multi-label heads ------------------------------------------------------------------------------------


def test_a_multi_label_head_is_refused(mnli: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "multi"
    shutil.copytree(mnli["model"], folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "problem_type": "multi_label_classification"}))
    with pytest.raises(DeployError, match="multi_label_classification .* is not supported"):
        read_config(folder, required=True)

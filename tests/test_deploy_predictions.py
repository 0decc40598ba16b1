"""predict_table: the input's rows and columns plus prediction columns, in the input's format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shared.dataset_io import DatasetError, read_table, resolve_spec
from tests.deploy_helpers import tiny_export
from tests.distill_helpers import glue_sample, make_tiny_teacher
from workers.deploy.loading import load_model
from workers.deploy.predictions import predict_table


@pytest.fixture(scope="module")
def sst(tmp_path_factory, glue_dir: Path) -> dict:
    return tiny_export(tmp_path_factory.mktemp("predictions"), glue_dir, rows=12)


def test_classification_adds_class_name_and_probabilities(sst: dict) -> None:
    table = read_table(sst["dev"])
    spec = resolve_spec(table, task="sst-2", label_column="")
    out, truncated = predict_table(load_model(sst["export"] / "model-int8.onnx"), table, spec, 5, 64)
    assert out.columns == ["sentence", "label", "prediction", "prob_0", "prob_1"]
    assert [r[:2] for r in out.rows] == table.rows and out.format == "tsv" and truncated == 0
    for row in out.rows:
        probs = np.array([float(x) for x in row[3:]])
        assert abs(probs.sum() - 1) < 1e-4 and row[2] == str(probs.argmax())


def test_regression_adds_the_score_and_jsonl_keeps_numbers(tmp_path: Path, glue_dir: Path) -> None:
    from shared.dataset_io import write_table

    model_dir = make_tiny_teacher(tmp_path / "sts", task="sts-b")
    tsv = read_table(glue_sample(glue_dir, "STS-B", "dev", 6, tmp_path / "dev.tsv"))
    write_table(tsv.__class__(tsv.columns, tsv.rows, "jsonl"), tmp_path / "dev.jsonl")
    table = read_table(tmp_path / "dev.jsonl")
    spec = resolve_spec(table, task="sts-b")
    out, _ = predict_table(load_model(model_dir), table, spec, 4, 128)
    assert out.columns[-1] == "prediction" and out.format == "jsonl"
    assert all(isinstance(row[-1], float) for row in out.rows)


def test_an_existing_prediction_column_is_refused(sst: dict) -> None:
    table = read_table(sst["dev"])
    table.columns[1] = "prediction"
    spec = resolve_spec(table, text_columns=["sentence"])
    with pytest.raises(DatasetError, match="column 'prediction': the input already has a column of this name"):
        predict_table(load_model(sst["model"]), table, spec, 4, 64, name=str(sst["dev"]))


def test_rows_cut_to_max_seq_len_are_counted(sst: dict) -> None:
    table = read_table(sst["dev"])
    spec = resolve_spec(table, task="sst-2", label_column="")
    model = load_model(sst["model"])
    full = [len(ids) for ids in model.tokenizer([row[0] for row in table.rows])["input_ids"]]
    _, truncated = predict_table(model, table, spec, 4, 10)
    assert truncated == sum(n > 10 for n in full) > 0

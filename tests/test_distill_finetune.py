"""Fine-tuning the real MiniLM encoder into a teacher on real SST-2 rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import AutoModelForSequenceClassification

from tests.distill_helpers import glue_sample, minilm_path
from workers.distill.errors import DistillError
from workers.distill.finetune import FinetuneConfig, finetune
from workers.distill.progress import STAGE_EVALUATE, STAGE_FINETUNE, ProgressEvent
from workers.distill.train import DistillConfig


@pytest.mark.slow
def test_minilm_on_a_few_hundred_sst2_rows_is_well_above_chance(tmp_path: Path, glue_dir: Path) -> None:
    train = glue_sample(glue_dir, "SST-2", "train", 400, tmp_path / "train.tsv", offset=1000)
    dev = glue_sample(glue_dir, "SST-2", "dev", 200, tmp_path / "dev.tsv")
    events: list[ProgressEvent] = []
    config = FinetuneConfig(
        model=minilm_path(),
        train=train,
        dev=dev,
        task="sst-2",
        output_dir=tmp_path / "teacher",
        epochs=2,
        lr=1e-4,
        batch_size=16,
        max_seq_len=64,
        device="cpu",
    )
    report = finetune(config, progress=events.append)
    assert report["dev"]["accuracy"] > 0.7, report["dev"]
    assert report["steps"] == 50 and report["loss_history"][-1]["loss"] < report["loss_history"][0]["loss"]
    model = AutoModelForSequenceClassification.from_pretrained(tmp_path / "teacher")
    assert model.config.id2label == {0: "0", 1: "1"}
    assert json.loads((tmp_path / "teacher" / "report.json").read_text())["dev"] == report["dev"]
    assert {e.stage for e in events} == {STAGE_FINETUNE, STAGE_EVALUATE}


def test_finetune_needs_gold_labels_and_a_real_model(tmp_path: Path) -> None:
    unlabelled = tmp_path / "u.tsv"
    unlabelled.write_text("sentence\nno label here\n")
    with pytest.raises(Exception, match="label"):
        finetune(FinetuneConfig(model=minilm_path(), train=unlabelled, task="sst-2", output_dir=tmp_path / "o"))
    labelled = tmp_path / "l.tsv"
    labelled.write_text("sentence\tlabel\nfine\t1\n")
    with pytest.raises(DistillError, match="cannot load a tokenizer .*no such folder"):
        finetune(FinetuneConfig(model=str(tmp_path / "none"), train=labelled, task="sst-2", output_dir=tmp_path / "o"))


def test_configs_take_their_defaults_from_settings(tmp_path: Path) -> None:
    from shared.settings import Settings

    s = Settings(finetune_epochs=5, lr2=1e-5, student_layers=3)
    f = FinetuneConfig.from_settings(model="m", train="t.tsv", task="sst-2", output_dir=tmp_path, settings=s)
    assert f.epochs == 5 and f.lr == s.finetune_lr
    d = DistillConfig.from_settings(
        teacher="t", train=["a.tsv"], task="sst-2", output_dir=tmp_path, settings=s, stage1_epochs=2, max_seq_len=None
    )
    assert d.lr2 == 1e-5 and d.student.layers == 3 and d.stage1_epochs == 2 and d.max_seq_len is None

"""The distillation loop end to end on tiny real models and synthetic GLUE-layout rows (tests/synthetic_data.py)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification

from tests.distill_helpers import glue_sample, make_tiny_teacher, sst2_config
from workers.distill.checkpoint import load_checkpoint, save_checkpoint
from workers.distill.errors import DistillError, TrainingCancelled
from workers.distill.models import StudentSpec
from workers.distill.optim import lr_factor
from workers.distill.progress import STAGE_EVALUATE, STAGE_INTERMEDIATE, STAGE_PREDICTION, ProgressEvent
from workers.distill.train import DistillConfig, distill


@pytest.fixture(scope="module")
def sst2(tmp_path_factory, synth_glue_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sst2")
    return {
        "teacher": make_tiny_teacher(root / "teacher"),
        "train": glue_sample(synth_glue_dir, "SST-2", "train", 96, root / "train.tsv"),
        "dev": glue_sample(synth_glue_dir, "SST-2", "dev", 64, root / "dev.tsv"),
    }


def _config(data: dict[str, Path], out: Path, **kw) -> DistillConfig:
    recipe = {"student": StudentSpec(2, 32, 4, 64), "stage1_epochs": 2, "stage2_epochs": 2, "lr1": 2e-3, "lr2": 2e-3}
    run = {"log_every": 2, "checkpoint_every": 3, "seed": 7}
    return sst2_config(data, out, **{**recipe, **run, "allow_weak_teacher": True, **kw})  # a random teacher


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return AutoModelForSequenceClassification.from_pretrained(folder).state_dict()


@pytest.fixture(scope="module")
def full_run(sst2, tmp_path_factory) -> tuple[dict, Path, list[ProgressEvent]]:
    out = tmp_path_factory.mktemp("full")
    events: list[ProgressEvent] = []
    report = distill(_config(sst2, out), progress=events.append)
    return report, out, events


def test_short_run_lowers_every_loss(full_run) -> None:
    report, _, _ = full_run
    stage1, stage2 = report["stages"]
    assert stage1["name"] == STAGE_INTERMEDIATE and stage2["name"] == STAGE_PREDICTION
    assert stage1["steps"] == stage2["steps"] == 12  # 96 rows / 16, two epochs each
    for key in ("embedding", "attention", "hidden"):
        assert stage1["loss_history"][-1][key] < stage1["loss_history"][0][key], key
    assert stage2["loss_history"][-1]["prediction"] < stage2["loss_history"][0]["prediction"]


def test_output_is_a_plain_transformers_model_with_report(full_run, sst2) -> None:
    _, out, _ = full_run
    model = AutoModelForSequenceClassification.from_pretrained(out)
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 32
    assert (out / "tokenizer.json").exists() or (out / "vocab.txt").exists()
    assert not (out / "checkpoint.pt").exists()
    on_disk = json.loads((out / "report.json").read_text())
    assert on_disk["task"] == "sst-2"
    assert set(on_disk["teacher"]["dev"]) == {"accuracy"} and set(on_disk["student"]["dev"]) == {"accuracy"}
    assert on_disk["student"]["params"] < on_disk["teacher"]["params"]
    assert on_disk["student"]["layers"] == 2 and on_disk["student"]["hidden"] == 32
    assert on_disk["layer_map"] == [1, 2] and on_disk["seconds"] > 0
    assert [s["name"] for s in on_disk["stages"]] == [STAGE_INTERMEDIATE, STAGE_PREDICTION]


def test_progress_events(full_run) -> None:
    _, _, events = full_run
    stages = [e.stage for e in events]
    assert stages[0] == STAGE_EVALUATE and events[0].metrics is not None  # teacher dev metrics first
    steps1 = [e for e in events if e.stage == STAGE_INTERMEDIATE]
    assert [e.step for e in steps1] == list(range(1, 13)) and steps1[-1].total_steps == 12
    assert set(steps1[0].losses) == {"embedding", "attention", "hidden", "total"} and steps1[0].samples_per_s > 0
    evals = [e for e in events if e.stage == STAGE_EVALUATE and e.epoch > 0]
    assert len(evals) == 2 and all("accuracy" in e.metrics for e in evals)


def _interrupted_then_resumed(sst2, out: Path, stop_after: int, between: Callable[[Path], None] | None = None) -> None:
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] > stop_after

    with pytest.raises(TrainingCancelled):
        distill(_config(sst2, out), should_stop=should_stop)
    assert (out / "checkpoint.pt").exists()
    if between is not None:
        between(out / "checkpoint.pt")
    events: list[ProgressEvent] = []
    distill(_config(sst2, out, resume=True), progress=events.append)
    assert any(e.message and "resumed from checkpoint" in e.message for e in events)


@pytest.mark.parametrize(
    "stop_after", [8, 12, 19], ids=["stop-in-stage-1", "stop-at-stage-boundary", "stop-in-stage-2"]
)
def test_resume_reaches_the_same_weights(full_run, sst2, tmp_path: Path, stop_after: int) -> None:
    _, reference, _ = full_run
    _interrupted_then_resumed(sst2, tmp_path, stop_after)
    expected, got = _weights(reference), _weights(tmp_path)
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    a = json.loads((reference / "report.json").read_text())
    b = json.loads((tmp_path / "report.json").read_text())
    assert a["stages"][1]["loss_history"] == b["stages"][1]["loss_history"]
    assert a["student"]["dev"] == b["student"]["dev"]


def _earlier_flat_layout(path: Path) -> None:
    """Rewrite a checkpoint as the loop wrote it before TrainState: history, window and stage_seconds flat."""
    checkpoint = load_checkpoint(path)
    log = checkpoint.pop("log")
    checkpoint.update(history=log["history"], window=log["window"], stage_seconds=checkpoint.pop("seconds"))
    save_checkpoint(path, checkpoint)


def test_a_checkpoint_in_the_earlier_layout_still_resumes(full_run, sst2, tmp_path: Path) -> None:
    _, reference, _ = full_run
    _interrupted_then_resumed(sst2, tmp_path, 19, between=_earlier_flat_layout)
    expected, got = _weights(reference), _weights(tmp_path)
    assert all(torch.equal(expected[name], got[name]) for name in expected)


def test_a_run_resumed_from_its_final_checkpoint_trains_no_step_again(full_run, sst2, tmp_path: Path) -> None:
    """A service job keeps its checkpoint until it has succeeded: its retry after a failed export or packing
    resumes from the checkpoint written after stage 2, trains no step and saves the same student."""
    _, reference, _ = full_run
    distill(_config(sst2, tmp_path, keep_checkpoint=True))
    assert (tmp_path / "checkpoint.pt").exists()
    events: list[ProgressEvent] = []
    distill(_config(sst2, tmp_path, resume=True), progress=events.append)
    assert not [e for e in events if e.losses or e.stage == STAGE_INTERMEDIATE]  # not one training step
    (resumed,) = [e for e in events if e.message and e.message.startswith("resumed")]
    assert "training had finished" in resumed.message and resumed.step == resumed.total_steps == 12
    expected, got = _weights(reference), _weights(tmp_path)
    assert all(torch.equal(expected[name], got[name]) for name in expected)
    a = json.loads((reference / "report.json").read_text())
    b = json.loads((tmp_path / "report.json").read_text())
    assert [s["loss_history"] for s in a["stages"]] == [s["loss_history"] for s in b["stages"]]
    assert a["student"]["dev"] == b["student"]["dev"]
    assert not (tmp_path / "checkpoint.pt").exists()  # a run not asked to keep it deletes it (the CLI default)


class _LandingShards:
    """A live train source like the worker's shard feed: ``first`` alone until stage 1's second epoch, then
    ``later`` too (a shard that landed); ``landed``: it is there from the start."""

    def __init__(self, first: Path, later: Path, landed: bool = False) -> None:
        self.first, self.later, self.landed = first, later, landed
        self.__name__ = "landing shards"

    def __call__(self) -> list[Path]:
        return [self.first, self.later] if self.landed else [self.first]

    def prepare_epoch(self, stage: str, epoch: int, epochs: int) -> None:
        self.landed = self.landed or stage != STAGE_INTERMEDIATE or epoch > 0


def test_an_epoch_resumed_after_more_shards_landed_reads_the_rows_it_started_on(
    tmp_path: Path, synth_glue_dir: Path, sst2
) -> None:
    first = glue_sample(synth_glue_dir, "SST-2", "train", 48, tmp_path / "shard-0.tsv")
    later = glue_sample(synth_glue_dir, "SST-2", "train", 48, tmp_path / "shard-1.tsv", offset=48)
    recipe = {"stage2_epochs": 1, "dev": None}
    reference = tmp_path / "reference"
    distill(_config(sst2, reference, train=_LandingShards(first, later), **recipe))
    out = tmp_path / "resumed"
    calls = iter(range(100))
    with pytest.raises(TrainingCancelled):  # stops at step 4 of stage 1's first epoch (checkpoint at step 3)
        distill(_config(sst2, out, train=_LandingShards(first, later), **recipe), should_stop=lambda: next(calls) >= 4)
    distill(_config(sst2, out, train=_LandingShards(first, later, landed=True), resume=True, **recipe))
    expected, got = _weights(reference), _weights(out)
    assert all(torch.equal(expected[name], got[name]) for name in expected)
    a, b = (json.loads((folder / "report.json").read_text()) for folder in (reference, out))
    assert a["stages"][0]["loss_history"] == b["stages"][0]["loss_history"]


def test_sts_b_regression_path(tmp_path: Path, synth_glue_dir: Path) -> None:
    teacher = make_tiny_teacher(tmp_path / "teacher", task="sts-b")
    train = glue_sample(synth_glue_dir, "STS-B", "train", 64, tmp_path / "train.tsv")
    dev = glue_sample(synth_glue_dir, "STS-B", "dev", 32, tmp_path / "dev.tsv")
    data = {"teacher": teacher, "train": train, "dev": dev}
    report = distill(_config(data, tmp_path / "out", task="sts-b", stage1_epochs=1, stage2_epochs=2))
    assert set(report["student"]["dev"]) == {"pearson", "spearman"}
    assert set(report["teacher"]["dev"]) == {"pearson", "spearman"}
    history = report["stages"][1]["loss_history"]
    assert history[-1]["prediction"] < history[0]["prediction"]
    assert AutoModelForSequenceClassification.from_pretrained(tmp_path / "out").config.num_labels == 1


def test_teacher_initialised_student_and_shard_list(sst2, tmp_path: Path, synth_glue_dir: Path) -> None:
    shards = [
        glue_sample(synth_glue_dir, "SST-2", "train", 40, tmp_path / f"shard{k}.tsv", offset=40 * k) for k in range(2)
    ]
    report = distill(
        _config(
            sst2,
            tmp_path / "out",
            train=shards,
            student=StudentSpec(1, init="teacher"),
            stage1_epochs=1,
            stage2_epochs=1,
            share_projection=True,
        )
    )
    assert report["train_rows"] == 80 and report["student"]["hidden"] == 64
    assert report["layer_map"] == [2]


def test_bad_inputs_are_refused(sst2, tmp_path: Path) -> None:
    empty = tmp_path / "empty.tsv"
    empty.write_text("")
    with pytest.raises(Exception, match="empty"):
        distill(_config(sst2, tmp_path / "a", train=empty))
    header_only = tmp_path / "header.tsv"
    header_only.write_text("sentence\tlabel\n")
    with pytest.raises(Exception, match="no data rows"):
        distill(_config(sst2, tmp_path / "b", train=header_only))
    with pytest.raises(DistillError, match="no training files"):
        distill(_config(sst2, tmp_path / "c", train=list))
    with pytest.raises(DistillError, match="layer map"):
        distill(_config(sst2, tmp_path / "d", layer_map="1,2,3"))


def test_lr_schedule_warms_up_then_decays() -> None:
    factors = [lr_factor(s, 100, 0.1) for s in range(100)]
    assert factors[0] == pytest.approx(0.1) and factors[9] == pytest.approx(1.0)
    assert factors[10] == pytest.approx(1.0) and factors[99] == pytest.approx(1 / 90)
    assert all(a >= b for a, b in itertools.pairwise(factors[9:]))


def test_a_bf16_distillation_has_finite_losses_and_fp32_weights(sst2, tmp_path: Path, bf16_detect) -> None:
    """bf16 autocast on the CPU (forced on, so any CPU runs it): every step's losses are finite, the student
    keeps fp32 master weights, and report.json says what ran and why."""
    bf16_detect("on")
    report = distill(_config(sst2, tmp_path / "bf16", stage1_epochs=1, stage2_epochs=1, precision="bf16"))
    assert report["precision"]["precision"] == "bf16" and "bf16 asked for" in report["precision"]["reason"]
    losses = [v for stage in report["stages"] for point in stage["loss_history"] for k, v in point.items()]
    assert losses and all(torch.isfinite(torch.tensor(float(v))) for v in losses)
    assert {t.dtype for t in _weights(tmp_path / "bf16").values() if t.is_floating_point()} == {torch.float32}
    assert json.loads((tmp_path / "bf16" / "report.json").read_text())["precision"] == report["precision"]


def test_bf16_runs_the_frozen_teacher_in_bf16_after_the_student_copied_its_fp32_weights(
    sst2, tmp_path: Path, bf16_detect
) -> None:
    """The teacher never trains, so bf16 casts its weights (faster than autocast's per-call casts); a
    teacher-initialised student is built first, from the exact fp32 weights, and stays fp32."""
    from workers.distill.distill_run import DistillRun

    bf16_detect("on")
    spec = StudentSpec(1, 32, 4, 64, init="teacher")
    run = DistillRun.build(_config(sst2, tmp_path / "out", student=spec, precision="bf16"), None, None)
    assert {p.dtype for p in run.teacher.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in run.student.parameters()} == {torch.float32}
    fp32_teacher = _weights(sst2["teacher"])
    student = run.student.state_dict()
    copied = [k for k in student if "embeddings" in k and k in fp32_teacher]
    assert copied and all(torch.equal(student[k], fp32_teacher[k]) for k in copied)
    fp32_run = DistillRun.build(_config(sst2, tmp_path / "fp32", student=spec, precision="fp32"), None, None)
    assert {p.dtype for p in fp32_run.teacher.parameters()} == {torch.float32}

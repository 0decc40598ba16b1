"""The teacher guard: the baseline it compares with, its verdicts, and its three cases inside ``distill``
(a weak teacher refused with both figures, the override, no dev set -> a warning), on tiny real models."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.tasks import get_task
from tests.distill_helpers import glue_sample, make_tiny_teacher, sst2_config
from workers.distill.data import Example
from workers.distill.models import StudentSpec
from workers.distill.progress import STAGE_INTERMEDIATE, ProgressEvent
from workers.distill.teacher_guard import WeakTeacher, baseline_metrics, check_teacher, guard_metric
from workers.distill.train import DistillConfig, distill


def _rows(labels: list[float | int]) -> list[Example]:
    return [Example((101, 7 + i, 102), None, label) for i, label in enumerate(labels)]


def test_the_baseline_is_the_majority_class_or_the_mean_score() -> None:
    assert baseline_metrics(_rows([1, 1, 0, 1]), get_task("sst-2")) == {"accuracy": 0.75}
    mrpc = baseline_metrics(_rows([0, 0, 0, 1]), get_task("mrpc"))
    assert mrpc == {"f1": 0.0, "accuracy": 0.75}  # always "not a paraphrase"
    stsb = baseline_metrics(_rows([0.5, 2.0, 4.5]), get_task("sts-b"))
    assert stsb == {"pearson": 0.0, "spearman": 0.0}  # a constant answer correlates with nothing
    assert [guard_metric(get_task(t)) for t in ("sst-2", "mrpc", "sts-b", "cola")] == [
        "accuracy",
        "accuracy",
        "pearson",
        "matthews",
    ]


def test_a_teacher_must_beat_the_baseline_by_the_margin() -> None:
    dev, sst2 = _rows([1, 1, 0, 1]), get_task("sst-2")
    verdict = check_teacher({"accuracy": 0.8}, dev, sst2, margin=0.02, allow_weak=False)
    assert verdict == {
        "metric": "accuracy",
        "teacher": 0.8,
        "baseline": 0.75,
        "margin": 0.02,
        "passed": True,
        "allowed_weak": False,
    }
    with pytest.raises(WeakTeacher) as refused:
        check_teacher({"accuracy": 0.76}, dev, sst2, margin=0.02, allow_weak=False)
    assert refused.value.code == "weak_teacher"
    assert "0.7600" in str(refused.value) and "0.7500" in str(refused.value)
    allowed = check_teacher({"accuracy": 0.76}, dev, sst2, margin=0.02, allow_weak=True)
    assert allowed["passed"] is False and allowed["allowed_weak"] is True


@pytest.fixture(scope="module")
def sst2(tmp_path_factory, glue_dir: Path) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("guard")
    return {
        "teacher": make_tiny_teacher(root / "teacher"),  # random weights: it learned nothing
        "train": glue_sample(glue_dir, "SST-2", "train", 32, root / "train.tsv"),
        "dev": glue_sample(glue_dir, "SST-2", "dev", 64, root / "dev.tsv"),
    }


def _config(data: dict[str, Path], out: Path, **kw) -> DistillConfig:
    return sst2_config(
        data, out, **{"student": StudentSpec(1, 32, 4, 64), "stage1_epochs": 1, "stage2_epochs": 1, "seed": 1, **kw}
    )


def test_a_random_teacher_is_refused_before_stage_1_with_both_figures(sst2, tmp_path: Path) -> None:
    events: list[ProgressEvent] = []
    with pytest.raises(WeakTeacher) as refused:
        distill(_config(sst2, tmp_path / "out"), progress=events.append)
    message = str(refused.value)
    teacher_acc = next(e.metrics for e in events if e.message == "teacher dev metrics")["accuracy"]
    assert f"dev accuracy {teacher_acc:.4f}" in message and "majority-class baseline" in message
    assert "--allow-weak-teacher" in message and "fine-tune it longer" in message
    assert not any(e.stage == STAGE_INTERMEDIATE for e in events)  # no training step ran
    assert not (tmp_path / "out" / "config.json").exists() and not (tmp_path / "out" / "checkpoint.pt").exists()


def test_allow_weak_teacher_distils_anyway_and_reports_the_verdict(sst2, tmp_path: Path) -> None:
    report = distill(_config(sst2, tmp_path / "out", allow_weak_teacher=True))
    guard = report["teacher_guard"]
    assert guard["passed"] is False and guard["allowed_weak"] is True
    assert guard["teacher"] == report["teacher"]["dev"]["accuracy"] and guard["baseline"] > 0.5
    assert (tmp_path / "out" / "config.json").exists()


def test_without_a_dev_set_a_warning_says_that_no_check_ran(sst2, tmp_path: Path) -> None:
    events: list[ProgressEvent] = []
    report = distill(_config(sst2, tmp_path / "out", dev=None, stage2_epochs=0), progress=events.append)
    warnings = [e.message for e in events if e.message and e.message.startswith("warning")]
    assert len(warnings) == 1 and "teacher guard did not run" in warnings[0]
    assert report["teacher_guard"] is None

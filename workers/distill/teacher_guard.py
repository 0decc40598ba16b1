"""The teacher guard: before stage 1, a teacher must beat the trivial predictor on the dev set.

A teacher that learned nothing (a fine-tune that stayed at the majority class) would otherwise be copied
into a student without a word. The baseline is the best constant answer on the same dev rows: the most
frequent class (classification) or the mean score (regression), scored with the task's own metric. The
teacher must beat it by ``margin`` (absolute, on the 0..1 metric scale); else ``WeakTeacher`` is raised,
unless the caller allows a weak teacher.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.tasks import TaskPreset
from workers.distill.data import Example
from workers.distill.errors import DistillError
from workers.distill.metrics import compute_metrics
from workers.distill.progress import STAGE_EVALUATE, ProgressEvent, emit

if TYPE_CHECKING:
    from workers.distill.distill_run import DistillRun

#: Said (CLI warning, job event) when there are no dev rows to check the teacher on.
NO_DEV_WARNING = (
    "warning: no dev set, so the teacher guard did not run: nothing checked that the teacher beats the "
    "majority-class baseline; give a dev set to have it checked"
)


class WeakTeacher(DistillError):
    """The teacher does not beat the majority-class (mean) baseline on the dev set by the margin."""

    code = "weak_teacher"


def guard_metric(preset: TaskPreset) -> str:
    """The metric compared: accuracy where the task reports it (the plainest reading of 'majority class'),
    else the task's first metric (Matthews for CoLA, Pearson for STS-B)."""
    return "accuracy" if "accuracy" in preset.metrics else preset.metrics[0]


def baseline_metrics(dev: Sequence[Example], preset: TaskPreset) -> dict[str, float]:
    """The task's metrics of the best constant predictor on ``dev``: its majority class, or its mean score."""
    labels = np.array([e.label for e in dev])
    if preset.is_regression:
        preds = np.full(len(labels), float(np.mean(labels.astype(np.float64))))
    else:
        majority = Counter(int(v) for v in labels).most_common(1)[0][0]
        preds = np.full(len(labels), majority)
    return compute_metrics(preset.metrics, preds, labels)


def check_teacher(
    teacher_dev: dict[str, float],
    dev: Sequence[Example],
    preset: TaskPreset,
    margin: float,
    allow_weak: bool,
) -> dict[str, Any]:
    """The guard's verdict for report.json; raises ``WeakTeacher`` when the teacher fails and is not allowed."""
    metric = guard_metric(preset)
    baseline = baseline_metrics(dev, preset)
    teacher_value, baseline_value = teacher_dev[metric], baseline[metric]
    passed = teacher_value >= baseline_value + margin
    verdict = {
        "metric": metric,
        "teacher": teacher_value,
        "baseline": baseline_value,
        "margin": margin,
        "passed": passed,
        "allowed_weak": allow_weak and not passed,
    }
    if not passed and not allow_weak:
        what = "mean-score" if preset.is_regression else "majority-class"
        raise WeakTeacher(
            f"weak teacher: dev {metric} {teacher_value:.4f} does not beat the {what} baseline "
            f"{baseline_value:.4f} by the margin {margin:g} ({len(dev)} dev rows); distilling it would copy a "
            "teacher that learned nothing. Try: fine-tune it longer or with a higher learning rate "
            "(distillery finetune --epochs/--lr), on more training rows, or check the dev file's labels; "
            "--allow-weak-teacher (allow_weak_teacher: true over HTTP) distils it anyway"
        )
    return verdict


def guard_teacher(run: DistillRun, teacher_dev: dict[str, float]) -> dict[str, Any] | None:
    """Check a distillation's teacher before stage 1 (``teacher_dev``: its dev metrics, already computed).

    Without a dev set nothing can be checked: a warning goes to the progress listener (the CLI prints it,
    a job records it as an event) and None is returned.
    """
    if run.dev is None:
        emit(run.progress, ProgressEvent(STAGE_EVALUATE, 0, 0, 0, message=NO_DEV_WARNING))
        return None
    config = run.config
    return check_teacher(teacher_dev, run.dev, run.preset, config.teacher_guard_margin, config.allow_weak_teacher)

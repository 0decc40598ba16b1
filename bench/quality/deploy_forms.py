"""The quality bench's deployed-forms table: its SST-2 teacher and one student (the profile's deploy_student:
TinyBERT4 from general distillation in ``cpu`` and ``cpu-base``, the 3-layer teacher-initialised one in
``smoke`` and ``gpu``) as
PyTorch fp32, PyTorch bf16 (where the CPU has it), ONNX fp32 and ONNX dynamic int8, each with its dev accuracy,
timed with bench/deploy_bench.py's round-robin protocol on the profile's latency threads (1)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bench.quality.common import log, task_file, write_result
from bench.quality.profiles import Profile
from bench.quality.teacher import dev_file, teacher_dir

#: The student's variants, in order of preference.
VARIANTS = ("distill_aug", "distill")


def student_dir(cache: str | Path, profile: Profile, task: str) -> Path | None:
    """The trained student folder the table uses, or None when the students step has not produced one."""
    for variant in VARIANTS:
        folder = Path(cache) / profile.name / task / "students" / f"{profile.deploy_student}__{variant}" / "model"
        if (folder / "config.json").is_file():  # a finished student, not the empty folder of an interrupted one
            return folder
    return None


def run(profile: Profile, task: str, *, glue: str, cache: str, results: str) -> dict[str, Any] | None:
    """Measure every form of the teacher and the student; writes deploy_<task>.json/.md under ``results``."""
    from bench.deploy_bench import run as measure

    teacher, student = teacher_dir(cache, profile, task), student_dir(cache, profile, task)
    if student is None or not teacher.is_dir():
        log(f"deploy forms {task}: no trained {profile.deploy_student} student or teacher in the cache; skipped")
        return None
    log(f"deploy forms {task}: {teacher.name} and {student.parent.name}, every form")
    args = argparse.Namespace(
        teacher=str(teacher),
        student=str(student),
        dev=str(dev_file(cache, glue, profile, task)),
        task=task,
        batch=32,
        seq=profile.scale(task).max_seq_len,
        rounds=profile.latency_repeats_b32,
        threads=profile.latency_threads,
        # NNCF's int8 calibration rows (used when openvino and nncf are installed)
        calib=str(task_file(glue, task, "train")),
        calib_rows=256,
        tiny=False,
        out=None,
    )
    data = measure(args)
    markdown = f"### Deployed forms, {task}\n\n" + data["markdown"].split("\n", 2)[2]
    write_result(results, f"deploy_{task}", {k: v for k, v in data.items() if k != "markdown"}, markdown)
    return {**data, "markdown": markdown}

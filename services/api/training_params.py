"""Turning fine-tune / distillation / pipeline requests into a job's resolved params (defaults filled in).

Shared by the three routes so a pipeline's children get exactly the params the standalone jobs would.
Everything the worker will need is checked here first, so a bad id or task is a 4xx naming the field,
not a failed job later. (Whether a teacher folder loads is only known on the worker: that fails the job.)
"""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from shared.dataset_store import DatasetStore
from shared.job_store import JobStore
from shared.schemas import DistillOptions, FinetuneOptions, JobRef, StudentCheckpoint, StudentFromTeacher
from shared.settings import Settings
from shared.tasks import UnknownTaskError, get_task


def dataset_or_404(datasets: DatasetStore, team: str, dataset_id: str | None, field: str) -> dict[str, Any] | None:
    if dataset_id is None:
        return None
    doc = datasets.get(dataset_id, team)
    if doc is None:
        raise HTTPException(404, f"field '{field}': dataset {dataset_id!r} not found")
    return doc


def resolve_task(task: str | None, dataset: dict[str, Any]) -> str:
    """The request's task, else the training dataset's; a GLUE preset either way."""
    name = task or dataset.get("task")
    if not name:
        raise HTTPException(422, f"field 'task': dataset {dataset['id']!r} has no task; name one (e.g. 'rte')")
    try:
        return get_task(name).name
    except UnknownTaskError as exc:
        raise HTTPException(422, f"field 'task': {exc}") from None


def teacher_param(teacher: str | JobRef, team: str, jobs: JobStore, *, field: str = "teacher") -> str | dict[str, str]:
    """A model path/hub id as given, or ``{"job_id"}`` of this team's succeeded fine-tune."""
    if isinstance(teacher, str):
        if not teacher.strip():
            raise HTTPException(422, f"field '{field}': empty model path")
        return teacher
    job = jobs.get(teacher.job_id, team)
    if job is None:
        raise HTTPException(404, f"field '{field}.job_id': job {teacher.job_id!r} not found")
    if job["type"] != "finetune":
        raise HTTPException(
            422, f"field '{field}.job_id': job {teacher.job_id!r} is a {job['type']} job, not a finetune"
        )
    if job["status"] != "succeeded":
        raise HTTPException(
            422, f"field '{field}.job_id': fine-tune {teacher.job_id!r} is {job['status']}; it must have succeeded"
        )
    return {"job_id": teacher.job_id}


def _pick(value: Any, default: Any) -> Any:
    return default if value is None else value


def finetune_params(
    opts: FinetuneOptions,
    settings: Settings,
    *,
    model: str,
    dataset: dict[str, Any],
    dev: dict[str, Any] | None,
    task: str,
) -> dict[str, Any]:
    preset = get_task(task)
    return {
        "model": model,
        "dataset_id": dataset["id"],
        "dev_dataset_id": dev["id"] if dev else None,
        "task": task,
        "epochs": _pick(opts.epochs, settings.finetune_epochs),
        "lr": _pick(opts.lr, settings.finetune_lr),
        "batch_size": _pick(opts.batch_size, settings.batch_size),
        "max_seq_len": _pick(
            opts.max_seq_len, settings.max_seq_len_pair if preset.is_pair else settings.max_seq_len_single
        ),
        "seed": _pick(opts.seed, settings.seed),
    }


def student_params(opts: DistillOptions, settings: Settings) -> dict[str, Any]:
    student = opts.student
    if isinstance(student, StudentCheckpoint):
        return {"checkpoint": student.checkpoint}
    if isinstance(student, StudentFromTeacher):
        return {"init": "teacher", "layers": _pick(student.layers, settings.student_layers)}
    shape = {
        "layers": _pick(student.layers, settings.student_layers),
        "hidden": _pick(student.hidden, settings.student_hidden),
        "heads": _pick(student.heads, settings.student_heads),
        "intermediate": _pick(student.intermediate, settings.student_intermediate),
    }
    if shape["hidden"] % shape["heads"]:
        raise HTTPException(
            422, f"field 'student.hidden': {shape['hidden']} is not a multiple of heads={shape['heads']}"
        )
    return shape


def distill_params(
    opts: DistillOptions,
    settings: Settings,
    *,
    teacher: str | dict[str, str],
    train: dict[str, str],
    train_dataset_id: str,
    dev_dataset_id: str | None,
    task: str,
) -> dict[str, Any]:
    preset = get_task(task)
    return {
        "teacher": teacher,
        "train": train,
        "train_dataset_id": train_dataset_id,
        "dev_dataset_id": dev_dataset_id,
        "task": task,
        "student": student_params(opts, settings),
        "stage1_epochs": _pick(opts.stage1_epochs, settings.stage1_epochs),
        "stage2_epochs": _pick(opts.stage2_epochs, settings.stage2_epochs),
        "lr1": _pick(opts.lr1, settings.lr1),
        "lr2": _pick(opts.lr2, settings.lr2),
        "batch_size": _pick(opts.batch_size, settings.batch_size),
        "max_seq_len": _pick(
            opts.max_seq_len, settings.max_seq_len_pair if preset.is_pair else settings.max_seq_len_single
        ),
        "layer_map": _pick(opts.layer_map, settings.layer_map),
        "temperature": _pick(opts.temperature, settings.temperature),
        "seed": _pick(opts.seed, settings.seed),
        "checkpoint_every": _pick(opts.checkpoint_every, settings.checkpoint_every),
    }


def enqueue_or_fail(jobs: JobStore, conn: Any, settings: Settings, job_id: str, kind: str) -> None:
    """Queue on the distill queue; a job that could not be queued is failed, never left 'queued'."""
    from workers.distill.jobs import enqueue

    try:
        enqueue(conn, settings, job_id, kind)
    except Exception as exc:
        jobs.fail(job_id, "enqueue_failed", f"could not queue the job: {exc}")
        raise HTTPException(503, f"could not queue job {job_id}: {exc}") from None
    jobs.add_event(job_id, "queued", "queued on the distill queue")

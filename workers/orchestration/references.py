"""Checking what a request refers to (datasets, a task, a teacher, an augmentation) before any job exists,
so a bad id, task or model reference is an error naming the field, not a failed job later. Model and
vector references go through ``shared.model_access`` (folders under the operator's roots, hub ids only when
allowed); whether a folder that passes those cheap checks really loads is only known on the worker.)"""

from __future__ import annotations

from typing import Any

from shared.dataset_store import DatasetStore
from shared.job_store import JobStore
from shared.job_types import JobType
from shared.model_access import ModelAccess, ReferenceRefused
from shared.schemas import (
    JobRef,
    LayerMap,
    StudentCheckpoint,
    StudentFromJob,
    StudentFromTeacher,
    StudentShape,
    layer_map_problem,
)
from shared.tasks import UnknownTaskError, get_task
from workers.orchestration.errors import InvalidRequest, NotFound

#: What an ``expired`` job's refusal adds: the retention TTL removed its folder (docs/service.md, "Retention").
_REMOVED = " (retention removed its artifacts)"


def _removed(job: dict[str, Any]) -> str:
    """Why an expired job is of no use, so the message does not suggest waiting for it."""
    return _REMOVED if job["status"] == "expired" else ""


def find_dataset(datasets: DatasetStore, team: str, dataset_id: str, field: str) -> dict[str, Any]:
    doc = datasets.get(dataset_id, team)
    if doc is None:
        raise NotFound(f"field '{field}': dataset {dataset_id!r} not found")
    return doc


def find_optional_dataset(
    datasets: DatasetStore, team: str, dataset_id: str | None, field: str
) -> dict[str, Any] | None:
    return None if dataset_id is None else find_dataset(datasets, team, dataset_id, field)


def resolve_task(task: str | None, dataset: dict[str, Any]) -> str:
    """The request's task, else the training dataset's; a GLUE preset's name either way."""
    name = task or dataset.get("task")
    if not name:
        raise InvalidRequest(f"field 'task': dataset {dataset['id']!r} has no task; name one (e.g. 'rte')")
    try:
        return get_task(name).name
    except UnknownTaskError as exc:
        raise InvalidRequest(f"field 'task': {exc}") from None


def allowed_model(access: ModelAccess | None, ref: str, field: str, *, needs_tokenizer: bool = True) -> str:
    """The stored form of a model reference (a resolved folder, or a hub id); InvalidRequest when refused.

    ``access`` None (callers that are not HTTP requests) keeps the reference as given."""
    if access is None:
        return ref
    try:
        return access.model(ref, field, needs_tokenizer=needs_tokenizer)
    except ReferenceRefused as exc:
        raise InvalidRequest(str(exc)) from None


def allowed_glove(access: ModelAccess | None, ref: str, field: str) -> str:
    """The stored form of a GloVe source (a named source, or a resolved vector file under a root)."""
    if access is None:
        return ref
    try:
        return access.glove(ref, field)
    except ReferenceRefused as exc:
        raise InvalidRequest(str(exc)) from None


def resolve_teacher(
    teacher: str | JobRef, team: str, jobs: JobStore, *, field: str = "teacher", access: ModelAccess | None = None
) -> str | JobRef:
    """An allowed model folder/hub id (see ``allowed_model``), or a reference to this team's succeeded fine-tune."""
    if isinstance(teacher, str):
        if not teacher.strip():
            raise InvalidRequest(f"field '{field}': empty model path")
        return allowed_model(access, teacher, field)
    job = jobs.get(teacher.job_id, team)
    if job is None:
        raise NotFound(f"field '{field}.job_id': job {teacher.job_id!r} not found")
    if job["type"] != JobType.FINETUNE:
        raise InvalidRequest(f"field '{field}.job_id': job {teacher.job_id!r} is a {job['type']} job, not a finetune")
    if job["status"] != "succeeded":
        raise InvalidRequest(
            f"field '{field}.job_id': fine-tune {teacher.job_id!r} is {job['status']}{_removed(job)}; "
            "it must have succeeded"
        )
    return JobRef(job_id=teacher.job_id)


def find_general_distillation(jobs: JobStore, team: str, job_id: str, field: str) -> dict[str, Any]:
    """This team's succeeded general distillation, whose student encoder a distillation starts from."""
    job = jobs.get(job_id, team)
    if job is None or job["type"] != JobType.GENERAL_DISTILLATION:
        raise NotFound(f"field '{field}': general distillation job {job_id!r} not found")
    if job["status"] != "succeeded":
        raise InvalidRequest(
            f"field '{field}': general distillation {job_id!r} is {job['status']}{_removed(job)}; "
            "it must have succeeded"
        )
    return job


def find_augmentation(jobs: JobStore, team: str, job_id: str, field: str) -> dict[str, Any]:
    """This team's augmentation job that a distillation may read (it may still be running)."""
    aug = jobs.get(job_id, team)
    if aug is None or aug["type"] != JobType.AUGMENTATION:
        raise NotFound(f"field '{field}': augmentation job {job_id!r} not found")
    if aug["status"] == "expired":
        raise InvalidRequest(f"field '{field}': job {aug['id']} is expired: retention removed its shards")
    if aug["status"] in ("failed", "cancelled"):
        raise InvalidRequest(f"field '{field}': job {aug['id']} is {aug['status']}")
    return aug


def student_layer_count(
    jobs: JobStore,
    team: str,
    student: StudentShape | StudentCheckpoint | StudentFromTeacher | StudentFromJob,
    default: int,
) -> int | None:
    """How many layers the requested student gets, where the request tells (``default``: the server's
    ``student_layers``); None when only the worker knows (a checkpoint's own layers, a missing job)."""
    if isinstance(student, StudentFromJob):
        job = jobs.get(student.job_id, team)
        layers = (((job or {}).get("params") or {}).get("student") or {}).get("layers")
        return layers if isinstance(layers, int) else None
    if isinstance(student, StudentCheckpoint):
        return student.layers
    return student.layers or default


def check_layer_map(
    jobs: JobStore,
    team: str,
    default_layers: int,
    spec: LayerMap | None,
    student: StudentShape | StudentCheckpoint | StudentFromTeacher | StudentFromJob,
    field: str,
) -> None:
    """InvalidRequest (422) for a layer map that cannot fit the student: not increasing, or one entry per
    student layer missing. The worker would only find out after loading the teacher (a pipeline: after its
    fine-tune). Not a schema rule: a schema-valid map is refused only against the request's other fields."""
    if spec is None:
        return
    problem = layer_map_problem(spec, student_layer_count(jobs, team, student, default_layers))
    if problem:
        raise InvalidRequest(f"field '{field}': {problem}")

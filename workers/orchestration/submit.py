"""Requests -> queued jobs: check the references, resolve the params once (``shared.job_params``), create
the job record with them, queue it. A job that cannot be queued is failed at once, never left "queued"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from pydantic import BaseModel

from shared.dataset_store import DatasetStore
from shared.job_params import (
    AugmentJobParams,
    DistillJobParams,
    FinetuneJobParams,
    ParamsError,
    resolve_student,
)
from shared.job_store import JobStore
from shared.job_types import JobType
from shared.schemas import (
    AugmentationRequest,
    DistillationRequest,
    DistillOptions,
    FinetuneOptions,
    FinetuneRequest,
    JobRef,
    StudentFromJob,
    TrainFromAugmentation,
    TrainFromDataset,
)
from shared.settings import Settings
from workers.augment.jobs import enqueue_augmentation, plan_shards
from workers.distill.jobs import enqueue
from workers.orchestration.errors import InvalidRequest, QueueUnavailable
from workers.orchestration.references import (
    find_augmentation,
    find_dataset,
    find_general_distillation,
    find_optional_dataset,
    resolve_task,
    resolve_teacher,
)


@dataclass(frozen=True)
class Submission:
    """Who submits (the team) and what a submission needs: settings, Redis for RQ, and both stores."""

    team: str
    settings: Settings
    conn: redis.Redis
    datasets: DatasetStore
    jobs: JobStore


def options(
    request: BaseModel, options_type: type[BaseModel], *, exclude: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """The hyper-parameter fields of ``request`` (those of ``options_type``), as keyword arguments."""
    return {name: getattr(request, name) for name in options_type.model_fields if name not in exclude}


def queue_or_fail(sub: Submission, job_id: str, enqueue_job: Callable[[], object], what: str, done: str) -> None:
    """Run ``enqueue_job``; on failure fail the job and raise QueueUnavailable, else log ``done``."""
    try:
        enqueue_job()
    except Exception as exc:  # the record must not stay "queued" for work that was never queued
        sub.jobs.fail(job_id, "enqueue_failed", f"could not queue {what}: {exc}")
        raise QueueUnavailable(f"could not queue job {job_id}: {exc}") from None
    sub.jobs.add_event(job_id, "queued", done)


def create_augmentation(sub: Submission, body: AugmentationRequest) -> tuple[str, AugmentJobParams]:
    """Create and queue an augmentation job: one shard job per ``shard_rows`` rows, then a merge."""
    dataset = find_dataset(sub.datasets, sub.team, body.dataset_id, "dataset_id")
    params = AugmentJobParams.resolve(sub.settings, **body.model_dump())
    shards = plan_shards(dataset["rows"], params.shard_rows)
    job_id = sub.jobs.create(
        job_type=JobType.AUGMENTATION,
        team=sub.team,
        params=params.model_dump(mode="json"),
        total=dataset["rows"],
        unit="rows",
        shards_total=len(shards),
        dataset_ids=[dataset["id"]],
    )
    queue_or_fail(
        sub,
        job_id,
        lambda: enqueue_augmentation(sub.conn, sub.settings, job_id, dataset, params),
        "the shards",
        f"{len(shards)} shards of up to {params.shard_rows} rows queued",
    )
    return job_id, params


def submit_augmentation(sub: Submission, body: AugmentationRequest) -> str:
    return create_augmentation(sub, body)[0]


def queue_training(sub: Submission, job_id: str, job_type: JobType) -> None:
    """Queue a fine-tune, distillation or pipeline job on the distill queue."""
    queue_or_fail(
        sub, job_id, lambda: enqueue(sub.conn, sub.settings, job_id, job_type), "the job", "queued on the distill queue"
    )


def create_training_job(sub: Submission, job_type: JobType, params: BaseModel, dataset_ids: list[str]) -> str:
    """The record of a fine-tune or distillation job (not queued: a pipeline runs its children inline)."""
    return sub.jobs.create(
        job_type=job_type, team=sub.team, params=params.model_dump(mode="json"), unit="steps", dataset_ids=dataset_ids
    )


def finetune_params(sub: Submission, opts: FinetuneOptions, **fixed: Any) -> FinetuneJobParams:
    """Fine-tune params from the request's options and the fields the caller fixes (model, datasets...)."""
    return FinetuneJobParams.resolve(sub.settings, **options(opts, FinetuneOptions), **fixed)


def distill_params(sub: Submission, opts: DistillOptions, **fixed: Any) -> DistillJobParams:
    """Distillation params from the request's options and the fields the caller fixes (teacher, data...)."""
    if isinstance(opts.student, StudentFromJob):
        find_general_distillation(sub.jobs, sub.team, opts.student.job_id, "student.job_id")
    try:
        student = resolve_student(opts.student, sub.settings)
    except ParamsError as exc:
        raise InvalidRequest(f"field 'student.hidden': {exc}") from None
    hyper = options(opts, DistillOptions, exclude=frozenset({"student"}))
    return DistillJobParams.resolve(sub.settings, **hyper, student=student, **fixed)


def submit_finetune(sub: Submission, body: FinetuneRequest) -> str:
    """Fine-tune a pre-trained encoder into a teacher."""
    dataset = find_dataset(sub.datasets, sub.team, body.dataset_id, "dataset_id")
    dev = find_optional_dataset(sub.datasets, sub.team, body.dev_dataset_id, "dev_dataset_id")
    task = resolve_task(body.task, dataset)
    params = finetune_params(
        sub, body, model=body.model, dataset_id=dataset["id"], dev_dataset_id=dev["id"] if dev else None, task=task
    )
    job_id = create_training_job(sub, JobType.FINETUNE, params, [d["id"] for d in (dataset, dev) if d])
    queue_training(sub, job_id, JobType.FINETUNE)
    return job_id


def submit_distillation(sub: Submission, body: DistillationRequest) -> str:
    """Distil on a dataset, or on an augmentation job's shards as they finish."""
    train: TrainFromDataset | TrainFromAugmentation
    if isinstance(body.train, TrainFromAugmentation):
        field = "train.augmentation_job_id"
        aug = find_augmentation(sub.jobs, sub.team, body.train.augmentation_job_id, field)
        train = TrainFromAugmentation(augmentation_job_id=aug["id"])
        dataset = find_dataset(sub.datasets, sub.team, aug["params"]["dataset_id"], field)
    else:
        dataset = find_dataset(sub.datasets, sub.team, body.train.dataset_id, "train.dataset_id")
        train = TrainFromDataset(dataset_id=dataset["id"])
    dev = find_optional_dataset(sub.datasets, sub.team, body.dev_dataset_id, "dev_dataset_id")
    task = resolve_task(body.task, dataset)
    teacher: str | JobRef = resolve_teacher(body.teacher, sub.team, sub.jobs)
    params = distill_params(
        sub,
        body,
        teacher=teacher,
        train=train,
        train_dataset_id=dataset["id"],
        dev_dataset_id=dev["id"] if dev else None,
        task=task,
    )
    job_id = create_training_job(sub, JobType.DISTILLATION, params, [d["id"] for d in (dataset, dev) if d])
    queue_training(sub, job_id, JobType.DISTILLATION)
    return job_id

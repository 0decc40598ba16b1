"""Requests -> queued jobs: check the references, resolve the params once (``shared.job_params``), create
the job record with them, queue it. A job that cannot be queued is failed at once, never left "queued"."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from pydantic import BaseModel

from shared.dataset_store import DatasetStore
from shared.general_params import GeneralDistillJobParams
from shared.job_params import (
    AugmentJobParams,
    DistillJobParams,
    FinetuneJobParams,
    ParamsError,
    StudentCheckpointParams,
    resolve_student,
)
from shared.job_store import InputGone, JobStore
from shared.job_types import JobType
from shared.model_access import ModelAccess
from shared.precision import submission_problem
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
from workers.orchestration.errors import InvalidRequest, NotFound, QueueUnavailable
from workers.orchestration.quotas import check_rows_out, check_stored, create_counted, limits_of
from workers.orchestration.references import (
    allowed_glove,
    allowed_model,
    check_layer_map,
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


P = TypeVar("P", AugmentJobParams, FinetuneJobParams, DistillJobParams, GeneralDistillJobParams)


def checked_precision(sub: Submission, params: P) -> P:
    """``params``, unless they ask for bf16 where the API can tell the workers lack it (InvalidRequest, a 422)."""
    problem = submission_problem(params.precision, sub.settings)
    if problem:
        raise InvalidRequest(f"field 'precision': {problem}")
    return params


def queue_or_fail(sub: Submission, job_id: str, enqueue_job: Callable[[], object], what: str, done: str) -> None:
    """Run ``enqueue_job``; on failure fail the job and raise QueueUnavailable, else log ``done``."""
    try:
        enqueue_job()
    except Exception as exc:  # the record must not stay "queued" for work that was never queued
        sub.jobs.fail(job_id, "enqueue_failed", f"could not queue {what}: {exc}")
        raise QueueUnavailable(f"could not queue job {job_id}: {exc}") from None
    sub.jobs.add_event(job_id, "queued", done)


def access(sub: Submission) -> ModelAccess:
    """The operator's rules for model and vector references over HTTP."""
    return ModelAccess.from_settings(sub.settings)


def augment_params(sub: Submission, body: AugmentationRequest, prefix: str = "") -> AugmentJobParams:
    """The request's params, defaults filled in, its MLM and GloVe references checked and stored resolved."""
    params = checked_precision(sub, AugmentJobParams.resolve(sub.settings, **body.model_dump()))
    rules = access(sub)
    refs = {
        "mlm_model": allowed_model(rules, params.mlm_model, f"{prefix}mlm_model"),
        "glove": allowed_glove(rules, params.glove, f"{prefix}glove"),
    }
    return params.model_copy(update=refs)


def check_augmentation(
    sub: Submission, body: AugmentationRequest, prefix: str = ""
) -> tuple[dict[str, Any], AugmentJobParams]:
    """The augmentation's dataset and params, once its references and size are known to be allowed."""
    dataset = find_dataset(sub.datasets, sub.team, body.dataset_id, f"{prefix}dataset_id")
    params = augment_params(sub, body, prefix)
    check_rows_out(limits_of(sub.settings, sub.team), sub.team, dataset["rows"], params.n, prefix)
    return dataset, params


def create_augmentation(
    sub: Submission, body: AugmentationRequest, prefix: str = "", *, counted: bool = True
) -> tuple[str, AugmentJobParams]:
    """Create and queue an augmentation job: one shard job per ``shard_rows`` rows, then a merge.

    ``counted`` False: a pipeline's child, not counted towards the team's active jobs (the pipeline is)."""
    dataset, params = check_augmentation(sub, body, prefix)
    check_stored(sub.jobs, limits_of(sub.settings, sub.team), sub.team)
    shards = plan_shards(dataset["rows"], params.shard_rows)

    job_id = create_job(
        sub,
        JobType.AUGMENTATION,
        params,
        counted=counted,
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


def create_training_job(
    sub: Submission, job_type: JobType, params: BaseModel, dataset_ids: list[str], *, counted: bool = True
) -> str:
    """The record of a fine-tune, distillation or pipeline job (not queued: a pipeline runs its children
    inline). ``counted`` False for a pipeline's children: the pipeline counts towards the active jobs."""
    if counted:
        check_stored(sub.jobs, limits_of(sub.settings, sub.team), sub.team)
    return create_job(sub, job_type, params, counted=counted, unit="steps", dataset_ids=dataset_ids)


def create_job(sub: Submission, job_type: JobType, params: BaseModel, *, counted: bool = True, **fields: Any) -> str:
    """A new job record of ``sub.team`` with ``params`` and the store's other ``fields`` (unit, total,
    dataset_ids...). ``counted``: refused (TooManyJobs) when the team is at its active-job limit; False for a
    pipeline's children, which the pipeline counts for."""

    def create(active_limit: int | None) -> str:
        try:
            return sub.jobs.create(
                job_type=job_type,
                team=sub.team,
                params=params.model_dump(mode="json"),
                active_limit=active_limit,
                **fields,
            )
        except InputGone as exc:  # a removal won the race since the lookup: the dataset or job is gone now
            raise NotFound(str(exc)) from None

    return create_counted(sub.settings, sub.team, create) if counted else create(None)


def finetune_params(sub: Submission, opts: FinetuneOptions, **fixed: Any) -> FinetuneJobParams:
    """Fine-tune params from the request's options and the fields the caller fixes (model, datasets...)."""
    return checked_precision(sub, FinetuneJobParams.resolve(sub.settings, **options(opts, FinetuneOptions), **fixed))


def distill_params(sub: Submission, opts: DistillOptions, prefix: str = "", **fixed: Any) -> DistillJobParams:
    """Distillation params from the request's options and the fields the caller fixes (teacher, data...)."""
    if isinstance(opts.student, StudentFromJob):
        find_general_distillation(sub.jobs, sub.team, opts.student.job_id, "student.job_id")
    check_layer_map(sub.jobs, sub.team, sub.settings.student_layers, opts.layer_map, opts.student, f"{prefix}layer_map")
    try:
        student = resolve_student(opts.student, sub.settings)
    except ParamsError as exc:
        raise InvalidRequest(f"field '{prefix}student.hidden': {exc}") from None
    if isinstance(student, StudentCheckpointParams):
        field = f"{prefix}student.checkpoint"
        checkpoint = allowed_model(access(sub), student.checkpoint, field, needs_tokenizer=False)
        student = student.model_copy(update={"checkpoint": checkpoint})
    hyper = options(opts, DistillOptions, exclude=frozenset({"student"}))
    return checked_precision(sub, DistillJobParams.resolve(sub.settings, **hyper, student=student, **fixed))


def submit_finetune(sub: Submission, body: FinetuneRequest) -> str:
    """Fine-tune a pre-trained encoder into a teacher."""
    dataset = find_dataset(sub.datasets, sub.team, body.dataset_id, "dataset_id")
    dev = find_optional_dataset(sub.datasets, sub.team, body.dev_dataset_id, "dev_dataset_id")
    task = resolve_task(body.task, dataset)
    model = allowed_model(access(sub), body.model, "model")
    params = finetune_params(
        sub, body, model=model, dataset_id=dataset["id"], dev_dataset_id=dev["id"] if dev else None, task=task
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
    teacher: str | JobRef = resolve_teacher(body.teacher, sub.team, sub.jobs, access=access(sub))
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

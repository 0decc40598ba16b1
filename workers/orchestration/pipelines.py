"""One request from a training set to a student: [fine-tune ->] augment -> distil.

The pipeline is a job of its own (on the `distill` queue) with child jobs, all created here so their ids
are known at once: an optional fine-tune (when ``base_model`` is given), the augmentation (queued at once on
the `augment` workers, so it overlaps the fine-tune) and the distillation (which reads the augmentation's
shards as they finish). Every child's params are resolved before any job exists, so a bad request leaves
no orphan; if queueing fails half-way, the children already created are failed with the pipeline.
"""

from __future__ import annotations

from pydantic import ValidationError

from shared.job_params import PipelineChildren, PipelineJobParams
from shared.job_store import new_id
from shared.job_types import JobType
from shared.schemas import AugmentationRequest, JobRef, PipelineRequest, TrainFromAugmentation
from workers.orchestration.children import fail_children
from workers.orchestration.errors import InvalidRequest, OrchestrationError
from workers.orchestration.quotas import check_active, check_stored, limits_of
from workers.orchestration.references import (
    allowed_model,
    find_dataset,
    find_optional_dataset,
    resolve_task,
    resolve_teacher,
)
from workers.orchestration.submit import (
    Submission,
    access,
    check_augmentation,
    create_augmentation,
    create_job,
    create_training_job,
    distill_params,
    finetune_params,
    queue_training,
)


def augment_request(body: PipelineRequest) -> AugmentationRequest:
    """The pipeline's ``augment`` fields as an augmentation request for its own dataset."""
    if "dataset_id" in body.augment:
        raise InvalidRequest("field 'augment.dataset_id': the pipeline augments its own dataset_id")
    try:
        return AugmentationRequest(dataset_id=body.dataset_id, **body.augment)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise InvalidRequest(f"field 'augment.{where}': {err['msg']}") from None


def submit_pipeline(sub: Submission, body: PipelineRequest) -> str:
    """Create the children and the pipeline job, queue the augmentation and the pipeline; returns its id."""
    # exactly one of teacher and base_model: PipelineRequest checks it
    dataset = find_dataset(sub.datasets, sub.team, body.dataset_id, "dataset_id")
    dev = find_optional_dataset(sub.datasets, sub.team, body.dev_dataset_id, "dev_dataset_id")
    task = resolve_task(body.task, dataset)
    aug_request = augment_request(body)
    rules = access(sub)
    teacher = resolve_teacher(body.teacher, sub.team, sub.jobs, access=rules) if body.teacher is not None else None
    pipeline_id = new_id("job")
    ds_ids = [d["id"] for d in (dataset, dev) if d]
    common = {"dev_dataset_id": dev["id"] if dev else None, "task": task}
    d_params = distill_params(
        sub,
        body.distill,
        "distill.",
        teacher=teacher or JobRef(job_id="pending"),
        train=TrainFromAugmentation(augmentation_job_id="pending"),
        train_dataset_id=dataset["id"],
        **common,
    )
    ft_params = None
    if body.base_model is not None:
        base_model = allowed_model(rules, body.base_model, "base_model")
        ft_params = finetune_params(sub, body.finetune, model=base_model, dataset_id=dataset["id"], **common)
    check_augmentation(sub, aug_request, "augment.")  # refused before any child exists, like every check
    check_stored(sub.jobs, limits_of(sub.settings, sub.team), sub.team)
    check_active(sub.jobs, sub.settings, sub.team)

    ft_id = None
    if ft_params is not None:
        ft_child = ft_params.model_copy(update={"pipeline_id": pipeline_id})
        ft_id = create_training_job(sub, JobType.FINETUNE, ft_child, ds_ids, counted=False)
        d_params = d_params.model_copy(update={"teacher": JobRef(job_id=ft_id)})
    try:
        aug_id, aug_params = create_augmentation(sub, aug_request, "augment.", counted=False)
    except OrchestrationError as exc:
        fail_children(sub.jobs, [ft_id] if ft_id else [], f"the pipeline's augmentation was refused: {exc}")
        raise
    d_params = d_params.model_copy(update={"train": TrainFromAugmentation(augmentation_job_id=aug_id)})
    distill_child = d_params.model_copy(update={"pipeline_id": pipeline_id})
    try:
        distill_id = create_training_job(sub, JobType.DISTILLATION, distill_child, ds_ids, counted=False)
    except OrchestrationError as exc:  # an input was removed meanwhile (NotFound): stop what was created
        fail_children(sub.jobs, [i for i in (ft_id, aug_id) if i], f"the pipeline was refused: {exc}")
        raise
    children = PipelineChildren(finetune=ft_id, augmentation=aug_id, distillation=distill_id)
    params = PipelineJobParams(
        dataset_id=dataset["id"],
        base_model=body.base_model,
        teacher=teacher,
        augment=aug_params,
        finetune=ft_params,
        distill=d_params,
        children=children,
        **common,
    )

    try:
        # another submission may have taken the last slot
        create_job(sub, JobType.PIPELINE, params, unit="steps", dataset_ids=ds_ids, job_id=pipeline_id)
    except OrchestrationError as exc:  # too many active jobs, or an input removed meanwhile
        fail_children(sub.jobs, children.ids(), f"the pipeline was refused: {exc}")
        raise
    try:
        queue_training(sub, pipeline_id, JobType.PIPELINE)
    except OrchestrationError:
        fail_children(sub.jobs, children.ids(), f"pipeline {pipeline_id} could not be queued")
        raise
    return pipeline_id

"""/v1/pipelines: one POST from a training set to a student: [fine-tune ->] augment -> distil.

The pipeline is a job of its own (on the `distill` queue) with child jobs, created here so their ids are
known at once: an optional fine-tune (when ``base_model`` is given), the augmentation (queued at once on
the `augment` workers, so it overlaps the fine-tune) and the distillation (which reads the augmentation's
shards as they finish). The pipeline worker runs the fine-tune and the distillation inline; reading a
pipeline adds a fresh summary of its children to its progress.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status
from pydantic import ValidationError

from services.api.deps import DatasetStoreDep, JobStoreDep, RedisDep, SettingsDep, TeamDep
from services.api.routes.augmentations import submit_augmentation
from services.api.training_params import (
    dataset_or_404,
    distill_params,
    enqueue_or_fail,
    finetune_params,
    resolve_task,
    teacher_param,
)
from shared.job_store import JobStore, new_id
from shared.schemas import AugmentationRequest, Job, PipelineRequest

router = APIRouter(prefix="/v1/pipelines", tags=["pipelines"])

#: Child role -> the pipeline stage it stands for while it is the one not finished yet.
ROLE_STAGES = {"finetune": "finetune", "augmentation": "augment", "distillation": "distill-intermediate"}


def _augment_request(body: PipelineRequest) -> AugmentationRequest:
    if "dataset_id" in body.augment:
        raise HTTPException(422, "field 'augment.dataset_id': the pipeline augments its own dataset_id")
    try:
        return AugmentationRequest(dataset_id=body.dataset_id, **body.augment)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise HTTPException(422, f"field 'augment.{where}': {err['msg']}") from None


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Job)
def create_pipeline(
    body: PipelineRequest,
    response: Response,
    team: TeamDep,
    settings: SettingsDep,
    conn: RedisDep,
    datasets: DatasetStoreDep,
    jobs: JobStoreDep,
) -> dict[str, Any]:
    """Fine-tune (given ``base_model``), augment the training set and distil, with a single request."""
    if (body.teacher is None) == (body.base_model is None):
        raise HTTPException(422, "fields 'teacher' and 'base_model': give exactly one of them")
    dataset = dataset_or_404(datasets, team, body.dataset_id, "dataset_id")
    dev = dataset_or_404(datasets, team, body.dev_dataset_id, "dev_dataset_id")
    task = resolve_task(body.task, dataset)
    aug_request = _augment_request(body)
    teacher = teacher_param(body.teacher, team, jobs) if body.teacher is not None else None
    dev_id = dev["id"] if dev else None
    ds_ids = [d["id"] for d in (dataset, dev) if d]
    pipeline_id = new_id("job")

    children: dict[str, str | None] = {"finetune": None, "augmentation": None, "distillation": None}
    ft_params = None
    if body.base_model is not None:
        ft_params = finetune_params(body.finetune, settings, model=body.base_model, dataset=dataset, dev=dev, task=task)
        children["finetune"] = jobs.create(
            job_type="finetune",
            team=team,
            params={**ft_params, "pipeline_id": pipeline_id},
            unit="steps",
            dataset_ids=ds_ids,
        )
        teacher = {"job_id": children["finetune"]}
    d_params = distill_params(
        body.distill,
        settings,
        teacher=teacher,
        train={"augmentation_job_id": "pending"},
        train_dataset_id=dataset["id"],
        dev_dataset_id=dev_id,
        task=task,
    )
    try:
        children["augmentation"] = submit_augmentation(aug_request, team, settings, conn, datasets, jobs)
    except HTTPException:
        if children["finetune"]:
            jobs.fail(children["finetune"], "pipeline_failed", "the pipeline's augmentation could not be queued")
        raise
    d_params["train"] = {"augmentation_job_id": children["augmentation"]}
    children["distillation"] = jobs.create(
        job_type="distillation",
        team=team,
        params={**d_params, "pipeline_id": pipeline_id},
        unit="steps",
        dataset_ids=ds_ids,
    )
    aug_params = (jobs.get(children["augmentation"]) or {}).get("params", {})
    params = {
        "dataset_id": dataset["id"],
        "dev_dataset_id": dev_id,
        "task": task,
        "teacher": body.teacher if isinstance(body.teacher, str) else (teacher if body.teacher else None),
        "base_model": body.base_model,
        "augment": aug_params,
        "finetune": ft_params,
        "distill": d_params,
        "children": children,
    }
    jobs.create(job_type="pipeline", team=team, params=params, unit="steps", dataset_ids=ds_ids, job_id=pipeline_id)
    try:
        enqueue_or_fail(jobs, conn, settings, pipeline_id, "pipeline")
    except HTTPException:
        for child in children.values():
            if child:
                jobs.fail(child, "pipeline_failed", f"pipeline {pipeline_id} could not be queued")
        raise
    response.headers["Location"] = f"/v1/jobs/{pipeline_id}"
    return summarise_pipeline(jobs, jobs.get(pipeline_id))  # type: ignore[arg-type]


def summarise_pipeline(jobs: JobStore, job: dict[str, Any]) -> dict[str, Any]:
    """Add ``progress.children`` (id, status, progress, error of each child) and a stage when none is set."""
    children = (job.get("params") or {}).get("children") or {}
    summary: dict[str, Any] = {}
    for role, child_id in children.items():
        if not child_id:
            continue
        child = jobs.get(child_id)
        if child is None:
            continue
        p = child["progress"]
        summary[role] = {
            "id": child_id,
            "status": child["status"],
            "error": child["error"],
            "progress": {
                k: p.get(k)
                for k in ("done", "total", "unit", "stage", "shards_done", "shards_total", "eta_s")
                if k in p
            },
        }
    progress = job["progress"]
    progress["children"] = summary
    if "stage" not in progress:
        pending = [
            r
            for r in ("finetune", "augmentation", "distillation")
            if r in summary and summary[r]["status"] in ("queued", "running")
        ]
        progress["stage"] = ROLE_STAGES[pending[0]] if pending else None
    return job


def pipeline_children(job: dict[str, Any]) -> list[str]:
    return [c for c in ((job.get("params") or {}).get("children") or {}).values() if c]

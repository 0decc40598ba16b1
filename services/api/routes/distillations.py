"""/v1/distillations: TinyBERT task-specific distillation of a teacher into a student (`distill` queue)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status

from services.api.deps import DatasetStoreDep, JobStoreDep, RedisDep, SettingsDep, TeamDep
from services.api.training_params import dataset_or_404, distill_params, enqueue_or_fail, resolve_task, teacher_param
from shared.schemas import DistillationRequest, Job, TrainFromAugmentation

router = APIRouter(prefix="/v1/distillations", tags=["distillations"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Job)
def create_distillation(
    body: DistillationRequest,
    response: Response,
    team: TeamDep,
    settings: SettingsDep,
    conn: RedisDep,
    datasets: DatasetStoreDep,
    jobs: JobStoreDep,
) -> dict[str, Any]:
    """Distil on a dataset, or on an augmentation job's shards as they finish (it may still be running)."""
    if isinstance(body.train, TrainFromAugmentation):
        aug = jobs.get(body.train.augmentation_job_id, team)
        if aug is None or aug["type"] != "augmentation":
            raise HTTPException(
                404, f"field 'train.augmentation_job_id': augmentation job {body.train.augmentation_job_id!r} not found"
            )
        if aug["status"] in ("failed", "cancelled"):
            raise HTTPException(422, f"field 'train.augmentation_job_id': job {aug['id']} is {aug['status']}")
        train = {"augmentation_job_id": aug["id"]}
        dataset = dataset_or_404(datasets, team, aug["params"]["dataset_id"], "train.augmentation_job_id")
    else:
        dataset = dataset_or_404(datasets, team, body.train.dataset_id, "train.dataset_id")
        train = {"dataset_id": dataset["id"]}
    dev = dataset_or_404(datasets, team, body.dev_dataset_id, "dev_dataset_id")
    task = resolve_task(body.task, dataset)
    params = distill_params(
        body,
        settings,
        teacher=teacher_param(body.teacher, team, jobs),
        train=train,
        train_dataset_id=dataset["id"],
        dev_dataset_id=dev["id"] if dev else None,
        task=task,
    )
    job_id = jobs.create(
        job_type="distillation",
        team=team,
        params=params,
        unit="steps",
        dataset_ids=[d["id"] for d in (dataset, dev) if d],
    )
    enqueue_or_fail(jobs, conn, settings, job_id, "distillation")
    response.headers["Location"] = f"/v1/jobs/{job_id}"
    return jobs.get(job_id)  # type: ignore[return-value]

"""/v1/finetunes: fine-tune a pre-trained encoder into a teacher (a job on the `distill` queue)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from services.api.deps import DatasetStoreDep, JobStoreDep, RedisDep, SettingsDep, TeamDep
from services.api.training_params import dataset_or_404, enqueue_or_fail, finetune_params, resolve_task
from shared.schemas import FinetuneRequest, Job

router = APIRouter(prefix="/v1/finetunes", tags=["finetunes"])


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Job)
def create_finetune(
    body: FinetuneRequest,
    response: Response,
    team: TeamDep,
    settings: SettingsDep,
    conn: RedisDep,
    datasets: DatasetStoreDep,
    jobs: JobStoreDep,
) -> dict[str, Any]:
    """Train a classification head and the encoder on gold labels; the result is the teacher's .tar.gz."""
    dataset = dataset_or_404(datasets, team, body.dataset_id, "dataset_id")
    dev = dataset_or_404(datasets, team, body.dev_dataset_id, "dev_dataset_id")
    task = resolve_task(body.task, dataset)
    params = finetune_params(body, settings, model=body.model, dataset=dataset, dev=dev, task=task)
    job_id = jobs.create(
        job_type="finetune", team=team, params=params, unit="steps", dataset_ids=[d["id"] for d in (dataset, dev) if d]
    )
    enqueue_or_fail(jobs, conn, settings, job_id, "finetune")
    response.headers["Location"] = f"/v1/jobs/{job_id}"
    return jobs.get(job_id)  # type: ignore[return-value]

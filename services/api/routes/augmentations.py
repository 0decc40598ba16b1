"""/v1/augmentations: submit an augmentation job (sharded onto the `augment` RQ queue)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status

from services.api.deps import DatasetStoreDep, JobStoreDep, RedisDep, SettingsDep, TeamDep
from shared.schemas import AugmentationRequest, Job
from shared.settings import Settings
from workers.augment.jobs import JOB_TYPE, enqueue_augmentation, plan_shards

router = APIRouter(prefix="/v1/augmentations", tags=["augmentations"])


def resolve_params(body: AugmentationRequest, settings: Settings) -> dict[str, Any]:
    """Every parameter with the server's defaults filled in (what the job object reports as params)."""

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    return {
        "dataset_id": body.dataset_id,
        "n": pick(body.n, settings.aug_n),
        "k": pick(body.k, settings.aug_k),
        "p": pick(body.p, settings.aug_p),
        "seed": pick(body.seed, settings.aug_seed),
        "mlm_model": pick(body.mlm_model, settings.mlm_model),
        "glove": pick(body.glove, settings.glove),
        "shard_rows": pick(body.shard_rows, settings.shard_rows),
        "batch_size": settings.aug_batch_size,
        "pair_input": settings.aug_pair_input,
        "stop_words": settings.aug_stop_words,
    }


def submit_augmentation(
    body: AugmentationRequest, team: str, settings: Settings, conn: Any, datasets: Any, jobs: Any
) -> str:
    """Create and enqueue an augmentation job (the route's work; pipelines reuse it); returns its id.

    Raises HTTPException 404 for an unknown dataset and 503 when the shards cannot be queued.
    """
    dataset = datasets.get(body.dataset_id, team)
    if dataset is None:
        raise HTTPException(404, f"field 'dataset_id': dataset {body.dataset_id!r} not found")
    params = resolve_params(body, settings)
    shards = plan_shards(dataset["rows"], params["shard_rows"])
    job_id = jobs.create(
        job_type=JOB_TYPE,
        team=team,
        params=params,
        total=dataset["rows"],
        unit="rows",
        shards_total=len(shards),
        dataset_ids=[dataset["id"]],
    )
    try:
        enqueue_augmentation(conn, settings, job_id, dataset, params)
    except Exception as exc:  # the record must not stay "queued" for work that was never queued
        jobs.fail(job_id, "enqueue_failed", f"could not queue the shards: {exc}")
        raise HTTPException(503, f"could not queue job {job_id}: {exc}") from None
    jobs.add_event(job_id, "queued", f"{len(shards)} shards of up to {params['shard_rows']} rows queued")
    return job_id


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Job)
def create_augmentation(
    body: AugmentationRequest,
    response: Response,
    team: TeamDep,
    settings: SettingsDep,
    conn: RedisDep,
    datasets: DatasetStoreDep,
    jobs: JobStoreDep,
) -> dict[str, Any]:
    """Augment a dataset: one shard job per ``shard_rows`` rows, then a merge into one result file."""
    job_id = submit_augmentation(body, team, settings, conn, datasets, jobs)
    response.headers["Location"] = f"/v1/jobs/{job_id}"
    return jobs.get(job_id)  # type: ignore[return-value]

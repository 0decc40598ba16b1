"""DELETE /v1/jobs/{id}: remove a finished job's artifacts and record (a pipeline's children with it).

The TTL expiry of ``shared.retention`` does the same on a schedule but keeps the record as ``expired``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response

from services.api.contract import AUTHENTICATED, WRITES, error
from services.api.deps import JobStoreDep, StorageDep, TeamDep
from shared.job_store import JobStore
from shared.retention import remove_job
from shared.schemas import ACTIVE_STATUSES
from workers.orchestration.children import children_of

#: 401 and 503 (Redis) like every authenticated route; 507: Redis refuses the record's removal on a full disk.
router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses={**AUTHENTICATED, **WRITES})

_RESPONSES: dict[int | str, dict[str, Any]] = {
    204: {"description": "the job's artifacts and record are removed"},
    **error(404, "no such job for this team"),
    **error(409, "the job (or a child) is queued or running, or an active job reads it"),
}


def _claim_all(jobs: JobStore, job_id: str, ids: list[str]) -> None:
    """409 unless every job to remove is over and no other active job reads one; then all are marked
    ``removing`` in one script, so a job submitted meanwhile that names one fails at creation instead of
    finding its inputs gone, and a refused DELETE marks nothing."""
    for one in ids:
        status = jobs.status(one)
        if status in ACTIVE_STATUSES:
            what = "job" if one == job_id else f"its child job {one}"
            raise HTTPException(
                409, f"job {job_id!r}: {what} is {status}; cancel it first (POST /v1/jobs/{{id}}/cancel)"
            )
    refused = jobs.claim_for_removal(ids)
    if refused is not None:
        raise HTTPException(409, f"job {job_id!r}: job {refused[1]} is still reading the artifacts of {refused[0]}")


@router.delete("/{job_id}", status_code=204, responses=_RESPONSES)
def delete_job(job_id: str, team: TeamDep, jobs: JobStoreDep, storage: StorageDep) -> Response:
    """Remove a finished job's files (result, shards, model, checkpoints) and its record; the team's stored
    bytes go down by its result's size. A pipeline takes its children with it."""
    job = jobs.get(job_id, team)
    if job is None:
        raise HTTPException(404, f"job {job_id!r} not found")
    ids = [job_id, *children_of(job)]
    _claim_all(jobs, job_id, ids)
    for one in ids:
        remove_job(jobs, storage, one, team)
    return Response(status_code=204)

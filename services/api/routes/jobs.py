"""/v1/jobs: every job type alike: list, status, events, cancel, result download."""

from __future__ import annotations

import mimetypes
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from services.api.contract import AUTHENTICATED, WRITES, error, errors
from services.api.deps import MAX_INDEX, JobReaderDep, JobStoreDep, PageDep, StorageDep, TeamDep
from shared.job_store import JobStore
from shared.job_types import JobType
from shared.schemas import EventPage, Job, JobStatus, MetricSeries, Page
from workers.orchestration.children import cancel_with_children, summarise_pipeline

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses=AUTHENTICATED)

_404 = errors(404)

_MEDIA_TYPES = {
    ".tsv": "text/tab-separated-values",
    ".csv": "text/csv",
    ".jsonl": "application/x-ndjson",
    ".gz": "application/gzip",
}


def _owned(jobs: JobStore, job_id: str, team: str) -> dict[str, Any]:
    job = jobs.get(job_id, team)
    if job is None:
        raise HTTPException(404, f"job {job_id!r} not found")
    return job


@router.get("", response_model=Page[Job])
def list_jobs(
    team: TeamDep,
    jobs: JobStoreDep,
    page: PageDep,
    type: str | None = Query(None, description=", ".join(JobType)),
    status: JobStatus | None = None,
) -> dict[str, Any]:
    offset, limit = page
    items, total = jobs.list(team, job_type=type, status=status, offset=offset, limit=limit)
    # a pipeline reads the same in the list as by id: with its children's status and progress
    return {"items": [summarise_pipeline(jobs, job) for job in items], "total": total, "offset": offset, "limit": limit}


@router.get("/{job_id}", response_model=Job, responses=_404)
async def get_job(job_id: str, team: TeamDep, reader: JobReaderDep, request: Request) -> dict[str, Any]:
    """The status poll: read on the event loop (no thread), as few dependencies as can be (each costs);
    a pipeline adds its children's summary (a few more reads, in the threadpool)."""
    job = await reader.get(job_id, team)
    if job is None:
        raise HTTPException(404, f"job {job_id!r} not found")
    if job["type"] == JobType.PIPELINE:
        return await run_in_threadpool(summarise_pipeline, request.app.state.job_store, job)
    return job


@router.get("/{job_id}/events", response_model=EventPage, responses=_404)
def get_events(
    job_id: str,
    team: TeamDep,
    jobs: JobStoreDep,
    after: int = Query(0, ge=0, le=MAX_INDEX, description="Only events with seq > after"),
    limit: int = Query(100, ge=1, le=1000),
) -> dict[str, Any]:
    _owned(jobs, job_id, team)
    items = jobs.events(job_id, after=after, limit=limit)
    return {"items": items, "last_seq": items[-1]["seq"] if items else after}


@router.post("/{job_id}/cancel", response_model=Job, status_code=202, responses={**_404, **WRITES})
def cancel_job(job_id: str, team: TeamDep, jobs: JobStoreDep) -> dict[str, Any]:
    """Idempotent: queued shards never run, running ones stop at their next batch; a finished job is unchanged."""
    _owned(jobs, job_id, team)
    cancel_with_children(jobs, job_id)  # a pipeline's children stop too
    return summarise_pipeline(jobs, _owned(jobs, job_id, team))


@router.get("/{job_id}/metrics", response_model=MetricSeries, responses=_404)
def get_metrics(
    job_id: str,
    team: TeamDep,
    jobs: JobStoreDep,
    stage: str | None = Query(None, description="only points of this stage (e.g. distill-intermediate)"),
) -> dict[str, Any]:
    """The training time series of a fine-tune, distillation or pipeline: step, stage, losses, samples/s,
    dev metrics (empty for augmentations). A pipeline's series holds its children's points in order."""
    _owned(jobs, job_id, team)
    points = jobs.metrics(job_id)
    if stage is not None:
        points = [p for p in points if p["stage"] == stage]
    return {"job_id": job_id, "points": points}


@router.get(
    "/{job_id}/result",
    response_class=StreamingResponse,
    responses={
        200: {"description": "the result file, streamed (whole: Range is not served)"},
        **_404,
        **error(409, "the job has not succeeded (yet): no result"),
        **error(410, "the result file is gone from storage"),
    },
)
def get_result(job_id: str, team: TeamDep, jobs: JobStoreDep, storage: StorageDep) -> StreamingResponse:
    """The file is opened here, not when the answer is sent: one that DELETE or the retention sweep removes
    meanwhile is still read whole from the open handle, and one already gone answers like the job now reads
    (404 once deleted, 409 once expired, 410 otherwise), never a 500."""
    job = _succeeded(_owned(jobs, job_id, team))
    relative = (job["result"] or {}).get("file")
    path = (storage.root / relative) if relative else None
    handle = _open_result(path) if path is not None else None
    if path is None or handle is None:
        _succeeded(_owned(jobs, job_id, team))  # removed since it was read: what DELETE or expiry left
        raise HTTPException(410, f"the result file of job {job_id!r} is gone from storage")
    media = _MEDIA_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = {
        "content-length": str(os.fstat(handle.fileno()).st_size),
        "content-disposition": f'attachment; filename="{job_id}-result{"".join(path.suffixes)}"',
    }
    return StreamingResponse(_chunks(handle), media_type=media, headers=headers)


def _succeeded(job: dict[str, Any]) -> dict[str, Any]:
    """``job`` when it has succeeded; else 409 saying what it is (an expired job's artifacts are removed)."""
    if job["status"] != "succeeded":
        reason = f"job {job['id']!r} is {job['status']}"
        if job["error"]:
            reason += f": {job['error']['message']}"
        raise HTTPException(409, reason + "; a result exists only once it has succeeded")
    return job


def _open_result(path: Path) -> BinaryIO | None:
    """The result file open for reading, or None when it is not (or no longer) a regular file."""
    try:
        handle = open(path, "rb")  # noqa: SIM115  # closed by _chunks once sent
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        return None
    return handle


def _chunks(handle: BinaryIO, size: int = 64 * 1024) -> Iterator[bytes]:
    with handle:
        while chunk := handle.read(size):
            yield chunk

"""OpenAPI ``responses`` of the job submissions' refusals: a bad reference or an over-size request (422,
naming the field or limit), an active-job limit (429 with Retry-After), an unknown id (404)."""

from __future__ import annotations

from typing import Any

from fastapi import Response
from pydantic import BaseModel

from shared.schemas import ErrorBody
from workers.orchestration.submit import Submission


class RefusalBody(BaseModel):
    """A 422: FastAPI's list of validation errors, or one message naming the field or limit at fault."""

    detail: str | list[dict[str, Any]] | dict[str, Any]


SUBMIT_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "no or unknown API key"},
    404: {"model": ErrorBody, "description": "a dataset or job the request names does not exist for this team"},
    422: {
        "model": RefusalBody,
        "description": "a field is invalid: a model reference outside the model roots, a hub id while the hub is "
        "off, rows x (N+1) over max_augment_rows_out, the team at max_stored_mb",
    },
    429: {
        "model": ErrorBody,
        "description": "the team has max_active_jobs queued or running jobs",
        "headers": {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}},
    },
    503: {"model": ErrorBody, "description": "Redis or the queue is unavailable"},
}


def accepted(response: Response, sub: Submission, job_id: str) -> dict[str, Any]:
    """The 202 answer to a submission: the new job's record, with its URL in ``Location``."""
    response.headers["Location"] = f"/v1/jobs/{job_id}"
    return sub.jobs.get(job_id)  # type: ignore[return-value]

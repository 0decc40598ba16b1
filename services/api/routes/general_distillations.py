"""/v1/general-distillations: TinyBERT's general distillation of a pre-trained encoder (`distill` queue)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from services.api.deps import SubmissionDep
from shared.schemas import ErrorBody, GeneralDistillationRequest, Job
from workers.orchestration.general import submit_general_distillation

router = APIRouter(prefix="/v1/general-distillations", tags=["general-distillations"])


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Job,
    responses={
        401: {"model": ErrorBody, "description": "missing or unknown API key"},
        404: {"model": ErrorBody, "description": "a corpus dataset not found (the field is named)"},
        422: {"description": "invalid request (the field is named)"},
        503: {"model": ErrorBody, "description": "Redis unreachable or the job could not be queued"},
    },
)
def create_general_distillation(
    body: GeneralDistillationRequest, response: Response, sub: SubmissionDep
) -> dict[str, Any]:
    """Distil a pre-trained encoder into a fresh student on the text of the corpus datasets; the result (a
    BertModel folder) can start a distillation: ``student: {"job_id": ...}``."""
    job_id = submit_general_distillation(sub, body)
    response.headers["Location"] = f"/v1/jobs/{job_id}"
    return sub.jobs.get(job_id)  # type: ignore[return-value]

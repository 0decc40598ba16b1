"""/v1/distillations: TinyBERT task-specific distillation of a teacher into a student (`distill` queue)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from services.api.contract import AUTHENTICATED, SUBMISSION
from services.api.deps import SubmissionDep
from services.api.quota_responses import SUBMIT_RESPONSES, accepted
from shared.schemas import DistillationRequest, Job
from workers.orchestration.submit import submit_distillation

router = APIRouter(prefix="/v1/distillations", tags=["distillations"], responses={**AUTHENTICATED, **SUBMISSION})


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Job, responses=SUBMIT_RESPONSES)
def create_distillation(body: DistillationRequest, response: Response, sub: SubmissionDep) -> dict[str, Any]:
    """Distil on a dataset, or on an augmentation job's shards as they finish (it may still be running)."""
    return accepted(response, sub, submit_distillation(sub, body))

"""/v1/finetunes: fine-tune a pre-trained encoder into a teacher (a job on the `distill` queue)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from services.api.contract import AUTHENTICATED, SUBMISSION
from services.api.deps import SubmissionDep
from services.api.quota_responses import SUBMIT_RESPONSES, accepted
from shared.schemas import FinetuneRequest, Job
from workers.orchestration.submit import submit_finetune

router = APIRouter(prefix="/v1/finetunes", tags=["finetunes"], responses={**AUTHENTICATED, **SUBMISSION})


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Job, responses=SUBMIT_RESPONSES)
def create_finetune(body: FinetuneRequest, response: Response, sub: SubmissionDep) -> dict[str, Any]:
    """Train a classification head and the encoder on gold labels; the result is the teacher's .tar.gz."""
    return accepted(response, sub, submit_finetune(sub, body))

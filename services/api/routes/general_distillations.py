"""/v1/general-distillations: TinyBERT's general distillation of a pre-trained encoder (`distill` queue)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from services.api.contract import AUTHENTICATED, SUBMISSION
from services.api.deps import SubmissionDep
from services.api.quota_responses import SUBMIT_RESPONSES, accepted
from shared.schemas import GeneralDistillationRequest, Job
from workers.orchestration.general import submit_general_distillation

router = APIRouter(
    prefix="/v1/general-distillations", tags=["general-distillations"], responses={**AUTHENTICATED, **SUBMISSION}
)


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Job, responses=SUBMIT_RESPONSES)
def create_general_distillation(
    body: GeneralDistillationRequest, response: Response, sub: SubmissionDep
) -> dict[str, Any]:
    """Distil a pre-trained encoder into a fresh student on the text of the corpus datasets; the result (a
    BertModel folder) can start a distillation: ``student: {"job_id": ...}``."""
    return accepted(response, sub, submit_general_distillation(sub, body))

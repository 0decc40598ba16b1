"""/v1/augmentations: submit an augmentation job (sharded onto the `augment` RQ queue)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from services.api.contract import AUTHENTICATED, SUBMISSION
from services.api.deps import SubmissionDep
from services.api.quota_responses import SUBMIT_RESPONSES, accepted
from shared.schemas import AugmentationRequest, Job
from workers.orchestration.submit import submit_augmentation

router = APIRouter(prefix="/v1/augmentations", tags=["augmentations"], responses={**AUTHENTICATED, **SUBMISSION})


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Job, responses=SUBMIT_RESPONSES)
def create_augmentation(body: AugmentationRequest, response: Response, sub: SubmissionDep) -> dict[str, Any]:
    """Augment a dataset: one shard job per ``shard_rows`` rows, then a merge into one result file."""
    return accepted(response, sub, submit_augmentation(sub, body))

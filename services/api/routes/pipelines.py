"""/v1/pipelines: one POST from a training set to a student: [fine-tune ->] augment -> distil.

The pipeline and its child jobs are created by ``workers.orchestration.pipelines``; the pipeline worker
runs the fine-tune and the distillation inline. Reading a pipeline adds a fresh summary of its children to
its progress.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status

from services.api.contract import AUTHENTICATED, SUBMISSION
from services.api.deps import SubmissionDep
from services.api.quota_responses import SUBMIT_RESPONSES
from shared.schemas import Job, PipelineRequest
from workers.orchestration.children import summarise_pipeline
from workers.orchestration.pipelines import submit_pipeline

router = APIRouter(prefix="/v1/pipelines", tags=["pipelines"], responses={**AUTHENTICATED, **SUBMISSION})


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=Job, responses=SUBMIT_RESPONSES)
def create_pipeline(body: PipelineRequest, response: Response, sub: SubmissionDep) -> dict[str, Any]:
    """Fine-tune (given ``base_model``), augment the training set and distil, with a single request."""
    pipeline_id = submit_pipeline(sub, body)
    response.headers["Location"] = f"/v1/jobs/{pipeline_id}"
    return summarise_pipeline(sub.jobs, sub.jobs.get(pipeline_id))  # type: ignore[arg-type]

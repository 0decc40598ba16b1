"""POST /v1/jobs/{id}/predictions: run a finished job's model over a dataset of the team, as a new job."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Response, status

from services.api.contract import AUTHENTICATED, SUBMISSION
from services.api.deps import SubmissionDep
from services.api.quota_responses import SUBMIT_RESPONSES, accepted
from shared.prediction_params import PredictionRequest
from shared.schemas import ErrorBody, Job
from workers.deploy.prediction_jobs import NotFinished, submit_prediction

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], responses={**AUTHENTICATED, **SUBMISSION})


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "model": ErrorBody}


@router.post(
    "/{job_id}/predictions",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=Job,
    responses={
        401: _error("no or unknown API key"),
        404: _error("no such job or dataset for this team"),
        409: _error("the job has not succeeded (yet)"),
        429: SUBMIT_RESPONSES[429],
        422: {
            "description": "an invalid body (FastAPI's list `detail`), or a job without a model or without the "
            "asked-for form (string `detail` naming the field)",
            "content": {
                "application/json": {
                    "schema": {
                        "anyOf": [
                            {"$ref": "#/components/schemas/HTTPValidationError"},
                            {"$ref": "#/components/schemas/ErrorBody"},
                        ]
                    }
                }
            },
        },
        503: _error("the job could not be queued"),
    },
)
def create_predictions(job_id: str, body: PredictionRequest, response: Response, sub: SubmissionDep) -> dict[str, Any]:
    """A prediction job whose result (GET /v1/jobs/{new id}/result) is the dataset with ``prediction`` and
    ``prob_<class>`` columns (regression: ``prediction`` is the score), in the dataset's format. The model is
    a succeeded fine-tune's teacher or distillation's/pipeline's student: ``form`` picks its PyTorch folder or
    its ONNX fp32/int8 export."""
    try:
        new_id = submit_prediction(sub, job_id, body)
    except NotFinished as exc:
        raise HTTPException(409, str(exc)) from None
    return accepted(response, sub, new_id)

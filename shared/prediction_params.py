"""POST /v1/jobs/{id}/predictions: the request, and the parameters a prediction job stores and runs with."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.job_params import FromSetting, ResolvedParams

#: Which form of the finished job's model runs: its PyTorch folder or one of its ONNX exports.
ModelForm = Literal["pytorch", "onnx", "onnx-int8"]


class PredictionRequest(BaseModel):
    """Run a finished fine-tune's teacher or distillation's (pipeline's) student over a dataset of the team."""

    # strict like every request (shared.schemas): ``"batch_size": true`` is a 422, not a batch of 1
    model_config = ConfigDict(extra="forbid", strict=True)

    dataset_id: str = Field(min_length=1, description="A dataset of this team (no label column needed).")
    form: ModelForm = Field("pytorch", description="pytorch, onnx or onnx-int8 (a distillation's exports).")
    batch_size: int | None = Field(None, ge=1, le=4096)
    max_seq_len: int | None = Field(
        None, ge=8, le=512, description="Default: the length the job's model was trained with."
    )


class PredictionJobParams(ResolvedParams):
    """A prediction job: the job whose model runs, the model file or folder (relative to the data dir)."""

    record_order = ("source_job_id", "dataset_id", "form")

    source_job_id: str
    dataset_id: str
    form: ModelForm
    model_path: str
    task: str | None
    batch_size: Annotated[int, FromSetting("deploy_batch_size")]
    max_seq_len: int | None = None  # None (records before the default): the task's length

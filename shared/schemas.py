"""The HTTP contract: request and response bodies shared by the API, the workers and the docs.

Requests forbid unknown fields so a misspelt parameter ("nn": 5) is a 422 naming it, never a silent default.
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JOB_STATUSES: tuple[str, ...] = ("queued", "running", "succeeded", "failed", "cancelled")
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})
ACTIVE_STATUSES: frozenset[str] = frozenset({"queued", "running"})

T = TypeVar("T")


class Progress(BaseModel):
    """Counters every job type reports; job types may add fields (e.g. a training stage)."""

    model_config = ConfigDict(extra="allow")

    done: int = 0
    total: int = 0
    unit: str = "rows"
    rate_per_s: float | None = None
    eta_s: float | None = None
    shards_done: int = 0
    shards_total: int = 0


class JobError(BaseModel):
    code: str
    message: str


class Job(BaseModel):
    """One job of any type (augmentation now; fine-tune, distillation and pipeline reuse it)."""

    id: str
    type: str
    status: JobStatus
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    params: dict[str, Any]
    progress: Progress
    error: JobError | None = None
    result: dict[str, Any] | None = None


class JobEvent(BaseModel):
    seq: int
    ts: str
    kind: str
    message: str
    data: dict[str, Any] = Field(default_factory=dict)


class Dataset(BaseModel):
    id: str
    name: str
    rows: int
    columns: list[str]
    format: str
    task: str | None
    text_columns: list[str]
    label_column: str | None
    sha256: str
    size_bytes: int
    created_at: str


class DatasetPreview(Dataset):
    preview: list[dict[str, Any]] | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int


class EventPage(BaseModel):
    items: list[JobEvent]
    #: Pass as ``after`` to get only newer events.
    last_seq: int


class AugmentationRequest(BaseModel):
    """POST /v1/augmentations; every field but dataset_id defaults to the server's settings."""

    model_config = ConfigDict(extra="forbid")

    dataset_id: str
    n: int | None = Field(None, ge=0, le=1000, description="Augmented samples per input row (N).")
    k: int | None = Field(None, ge=1, le=1000, description="Candidates per word (K).")
    p: float | None = Field(None, ge=0.0, le=1.0, description="Replacement probability per word.")
    seed: int | None = Field(None, description="Seed; each row's draws come from (seed, row index).")
    mlm_model: str | None = Field(None, min_length=1, description="Masked LM: local folder or hub id.")
    glove: str | None = Field(None, min_length=1, description="GloVe source.")
    shard_rows: int | None = Field(None, ge=1, description="Input rows per shard.")


class ErrorBody(BaseModel):
    """Every 4xx answer: ``detail`` says what is wrong and where (field, row, column)."""

    detail: str | dict[str, Any]

"""Response bodies of the multi-team endpoints: GET /v1/models (what a team may reference) and GET /v1/usage
(what a team uses against its limits). Kept apart from ``shared.schemas`` so each contract reads on its own."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ModelEntry(BaseModel):
    """A model folder under a root: pass ``ref`` as ``mlm_model``, ``teacher``, ``model`` or ``base_model``."""

    ref: str
    root: str
    tokenizer: bool = Field(description="The folder has tokenizer files (required except for student checkpoints).")


class VectorEntry(BaseModel):
    """A GloVe source: a named one (``root`` null) or a vector file under a root."""

    ref: str
    root: str | None


class HubRule(BaseModel):
    allowed: bool = Field(description="Hub ids are accepted (DISTILLERY_ALLOW_HUB on and the hub reachable).")


class JobModel(BaseModel):
    """A succeeded job of the team whose model a request may name as ``{"job_id": ...}`` (e.g. ``teacher``)."""

    job_id: str
    type: str
    finished_at: str | None


class ModelCatalog(BaseModel):
    """GET /v1/models."""

    roots: list[str]
    hub: HubRule
    models: list[ModelEntry]
    glove: list[VectorEntry]
    jobs: list[JobModel]


class TeamLimitsBody(BaseModel):
    max_active_jobs: int
    max_augment_rows_out: int
    max_stored_mb: int
    max_upload_mb: int


class UsageFigures(BaseModel):
    active_jobs: int = Field(description="Queued plus running jobs (a pipeline counts once).")
    jobs: dict[str, int] = Field(description="The team's jobs by status.")
    rows_out: int = Field(description="Rows written by the team's succeeded augmentations.")
    stored_bytes: int = Field(description="Datasets plus job results kept for the team.")
    datasets: int


class Usage(BaseModel):
    """GET /v1/usage: what the team uses, and its limits."""

    team: str
    usage: UsageFigures
    limits: TeamLimitsBody

"""The HTTP contract: request and response bodies shared by the API, the workers and the docs.

Requests forbid unknown fields so a misspelt parameter ("nn": 5) is a 422 naming it, never a silent default,
and are strict: ``"seed": false`` or ``"n": "3"`` is a 422 too, as the OpenAPI document says (no coercion).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.precision import Precision

#: The ``precision`` field of every job request.
PRECISION_HELP = (
    "auto (bf16 where the worker's device runs it natively, else fp32), fp32 or bf16; default: the server's "
    "DISTILLERY_PRECISION. The job's result says what ran and why."
)

#: The largest seed: the workers seed numpy, which takes 0..2**32-1 (a seed out of range failed the job late).
MAX_SEED = 2**32 - 1
#: A request's ``seed``: in the schema, so -1 or 2**32 is a 422 naming it, not a job that fails on the worker.
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]

#: A layer map's strategy names (``workers.distill.layer_map`` builds them).
LAYER_MAP_STRATEGIES = ("uniform", "top", "bottom")
_ANY_CASE = "|".join("".join(f"[{c.upper()}{c}]" for c in name) for name in LAYER_MAP_STRATEGIES)
_LAYER = "[1-9][0-9]{0,5}"  # bounded: int() refuses strings of over 4300 digits
#: A layer map as text: a strategy's name (any case) or teacher layers 1.. separated by commas ('2, 4, 6').
#: In the schema, so a malformed map ("sideways") is refused at submission, not on the worker after training.
LAYER_MAP_PATTERN = rf"^ *(?:{_ANY_CASE}|{_LAYER}(?: *, *{_LAYER})*) *$"
LAYER_MAP_HELP = (
    "uniform, top, bottom, or the teacher layer (1..) each student layer learns from, strictly increasing, one "
    "per student layer: '2,4,6' or [2, 4, 6]"
)
#: The ``layer_map`` field: its syntax here; its order and length (against the student) at submission.
LayerMap = (
    Annotated[str, Field(pattern=LAYER_MAP_PATTERN)]
    | Annotated[list[Annotated[int, Field(ge=1)]], Field(min_length=1, max_length=48)]
)


def layer_map_layers(spec: str | Sequence[int]) -> list[int] | None:
    """The teacher layers an explicit layer map names ('2, 4, 6' or [2, 4, 6]); None for a strategy's name.
    ValueError for text that is neither."""
    if not isinstance(spec, str):
        return [int(x) for x in spec]
    name = spec.strip().lower()
    if name in LAYER_MAP_STRATEGIES:
        return None
    return [int(part) for part in name.replace(" ", "").split(",") if part != ""]


def layer_map_problem(spec: str | list[int], student_layers: int | None) -> str | None:
    """Why ``spec`` cannot work for a student of ``student_layers`` layers (None: unknown here), else None.

    What ``workers.distill.layer_map.build_layer_map`` would refuse without knowing the teacher, checked at
    submission so a pipeline does not fail after its whole fine-tune. Expects a ``LayerMap``-valid ``spec``."""
    layers = layer_map_layers(spec)
    if layers is None:
        return None  # a strategy: whether the teacher has enough layers is only known on the worker
    if any(b <= a for a, b in itertools.pairwise(layers)):
        return f"layer map {layers} must be strictly increasing (teacher layers, one per student layer)"
    if student_layers is not None and len(layers) != student_layers:
        return f"layer map {layers} has {len(layers)} entries but the student has {student_layers} layers"
    return None


#: ``expired``: a finished job whose artifacts the retention TTL removed (docs/service.md, "Retention").
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled", "expired"]
JOB_STATUSES: tuple[str, ...] = ("queued", "running", "succeeded", "failed", "cancelled", "expired")
TERMINAL_STATUSES: frozenset[str] = frozenset({"succeeded", "failed", "cancelled", "expired"})
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

    model_config = ConfigDict(extra="forbid", strict=True)

    dataset_id: str
    n: int | None = Field(None, ge=0, le=1000, description="Augmented samples per input row (N).")
    k: int | None = Field(None, ge=1, le=1000, description="Candidates per word (K).")
    p: float | None = Field(None, ge=0.0, le=1.0, description="Replacement probability per word.")
    seed: Seed | None = Field(None, description="Seed; each row's draws come from (seed, row index).")
    mlm_model: str | None = Field(None, min_length=1, description="Masked LM: local folder or hub id.")
    glove: str | None = Field(None, min_length=1, description="GloVe source.")
    shard_rows: int | None = Field(None, ge=1, description="Input rows per shard.")
    precision: Precision | None = Field(None, strict=False, description=PRECISION_HELP)  # JSON strings


class ErrorBody(BaseModel):
    """Every error answer but 422 (FastAPI's list shape): ``detail`` says what is wrong."""

    detail: str | dict[str, Any]


# --- fine-tune, distillation and pipeline jobs (the distill queue) ----------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class JobRef(_Strict):
    """A model produced by an earlier job of the same team: ``{"job_id": ...}`` of a succeeded fine-tune."""

    job_id: str


class TrainFromDataset(_Strict):
    dataset_id: str


class TrainFromAugmentation(_Strict):
    """Distil on an augmentation job's shards, read as they finish (the job may still be running)."""

    augmentation_job_id: str


class StudentShape(_Strict):
    """A fresh student of this shape (TinyBERT4 by default)."""

    layers: int | None = Field(None, ge=1, le=48)
    hidden: int | None = Field(None, ge=8)
    heads: int | None = Field(None, ge=1)
    intermediate: int | None = Field(None, ge=8)


class GeneralStudent(StudentShape):
    """General distillation's fresh student: its shape and how it starts."""

    init: Literal["auto", "random", "pruned"] | None = Field(
        None,
        description="pruned: the teacher's mapped layers cut to this shape's widths (BERT teachers); random: the "
        "paper's fresh student; auto (the server's default): pruned where the teacher allows it.",
    )


class StudentCheckpoint(_Strict):
    """A student from a BERT checkpoint folder or hub id (a general-distillation TinyBERT, a pre-trained MiniLM).
    A checkpoint with another tokenizer starts from its embeddings re-indexed to the teacher's vocabulary."""

    checkpoint: str = Field(min_length=1)
    layers: int | None = Field(
        None, ge=1, le=48, description="keep this many of the checkpoint's layers (uniform map); default: all"
    )


class StudentFromTeacher(_Strict):
    """The teacher's embeddings and mapped layers copied (hidden size, heads and FFN are the teacher's)."""

    init: Literal["teacher"]
    layers: int | None = Field(None, ge=1, le=48)


class StudentFromJob(_Strict):
    """The student encoder of a succeeded general distillation of the same team."""

    job_id: str = Field(min_length=1)


StudentRequest = StudentShape | StudentCheckpoint | StudentFromTeacher | StudentFromJob


class FinetuneOptions(_Strict):
    """Fine-tuning hyper-parameters; unset ones come from the server's settings."""

    epochs: int | None = Field(None, ge=1, le=100)
    lr: float | None = Field(None, gt=0, le=1)
    batch_size: int | None = Field(None, ge=1, le=4096)
    max_seq_len: int | None = Field(None, ge=8, le=512)
    seed: Seed | None = None
    precision: Precision | None = Field(None, strict=False, description=PRECISION_HELP)  # JSON strings


class FinetuneRequest(FinetuneOptions):
    """POST /v1/finetunes: a teacher from a pre-trained encoder (local folder or hub id)."""

    dataset_id: str
    dev_dataset_id: str | None = None
    model: str = Field(min_length=1, description="Pre-trained encoder: local folder or hub id.")
    task: str | None = Field(None, description="GLUE task preset; default: the dataset's task.")


class DistillOptions(_Strict):
    """Distillation hyper-parameters; unset ones come from the server's settings (the TinyBERT recipe)."""

    student: StudentRequest = Field(default_factory=StudentShape)
    stage1_epochs: int | None = Field(None, ge=0, le=1000)
    stage2_epochs: int | None = Field(None, ge=0, le=1000)
    lr1: float | None = Field(None, gt=0, le=1)
    lr2: float | None = Field(None, gt=0, le=1)
    batch_size: int | None = Field(None, ge=1, le=4096)
    max_seq_len: int | None = Field(None, ge=8, le=512)
    layer_map: LayerMap | None = Field(None, description=LAYER_MAP_HELP)
    temperature: float | None = Field(None, gt=0)
    seed: Seed | None = None
    checkpoint_every: int | None = Field(None, ge=1, description="Training steps between checkpoints.")
    export: bool | None = Field(
        None, description="Also hand back ONNX fp32 and int8 exports with their dev metrics (default: true)."
    )
    precision: Precision | None = Field(None, strict=False, description=PRECISION_HELP)  # JSON strings
    allow_weak_teacher: bool | None = Field(
        None,
        description="Distil even when the teacher does not beat the dev set's majority-class (mean) baseline by "
        "the server's margin; otherwise such a job fails with error code weak_teacher.",
    )


class DistillationRequest(DistillOptions):
    """POST /v1/distillations."""

    teacher: str | JobRef = Field(description="Model folder or hub id, or {job_id} of a succeeded fine-tune.")
    train: TrainFromDataset | TrainFromAugmentation
    dev_dataset_id: str | None = None
    task: str | None = Field(None, description="GLUE task preset; default: the training dataset's task.")


def _given(name: str) -> dict[str, Any]:
    """JSON Schema: property ``name`` is present and not null."""
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


class PipelineRequest(_Strict):
    """POST /v1/pipelines: [fine-tune base_model ->] augment the training set -> distil, in one job."""

    # exactly one of teacher and base_model, said in the schema too (clients generated from it know)
    model_config = ConfigDict(
        extra="forbid", strict=True, json_schema_extra={"oneOf": [_given("teacher"), _given("base_model")]}
    )

    dataset_id: str
    dev_dataset_id: str | None = None
    teacher: str | JobRef | None = Field(None, description="A ready teacher (exclusive with base_model).")
    base_model: str | None = Field(None, min_length=1, description="An encoder to fine-tune into the teacher first.")
    task: str | None = None
    augment: dict[str, Any] = Field(default_factory=dict, description="POST /v1/augmentations fields but dataset_id.")
    finetune: FinetuneOptions = Field(default_factory=FinetuneOptions)
    distill: DistillOptions = Field(default_factory=DistillOptions)

    @model_validator(mode="after")
    def _one_teacher_source(self) -> PipelineRequest:
        if (self.teacher is None) == (self.base_model is None):
            raise ValueError("fields 'teacher' and 'base_model': give exactly one of them")
        return self


class GeneralDistillationRequest(_Strict):
    """POST /v1/general-distillations: a pre-trained encoder distilled into a fresh student on unlabelled text."""

    teacher: str = Field(min_length=1, description="Pre-trained encoder (not fine-tuned): model folder or hub id.")
    corpus_dataset_ids: list[str] = Field(min_length=1, description="Datasets whose text columns are the corpus.")
    student: GeneralStudent = Field(default_factory=GeneralStudent)
    epochs: int | None = Field(None, ge=1, le=1000)
    lr: float | None = Field(None, gt=0, le=1)
    batch_size: int | None = Field(None, ge=1, le=4096)
    max_seq_len: int | None = Field(None, ge=8, le=512)
    layer_map: LayerMap | None = Field(None, description=LAYER_MAP_HELP)
    seed: Seed | None = None
    checkpoint_every: int | None = Field(None, ge=1, description="Training steps between checkpoints.")
    precision: Precision | None = Field(None, strict=False, description=PRECISION_HELP)  # JSON strings


class MetricPoint(BaseModel):
    """One point of a training job's time series."""

    model_config = ConfigDict(extra="allow")

    ts: float
    job_id: str
    stage: str
    epoch: int
    step: int
    total_steps: int
    losses: dict[str, float] = Field(default_factory=dict)
    samples_per_s: float | None = None
    metrics: dict[str, float] | None = None


class MetricSeries(BaseModel):
    job_id: str
    points: list[MetricPoint]


class StreamToken(BaseModel):
    """POST /v1/stream-tokens: pass ``token`` as ``?token=`` to GET /v1/jobs/{id}/stream (EventSource)."""

    token: str
    team: str
    expires_in_s: int
    expires_at: str

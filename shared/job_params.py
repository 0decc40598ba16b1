"""Job parameters: what a request (or a CLI command) asks for, with the server's defaults filled in, typed.

Settings become parameters here only. The API resolves a request into a ``*JobParams`` model when it
submits the job and stores the model's JSON as the job's ``params`` (what ``GET /v1/jobs/{id}`` shows); the
workers read the model back from the record and build their engine configs from it; the CLI resolves its
flags through the ``*RunParams`` models that the job params extend. A field annotated
``FromSetting("name")`` takes ``Settings.name`` when the request leaves it unset, so a new parameter is one
field here plus its default in ``shared/settings.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, SerializerFunctionWrapHandler, model_serializer

from shared.precision import Precision
from shared.schemas import (
    JobRef,
    StudentCheckpoint,
    StudentFromJob,
    StudentFromTeacher,
    StudentRequest,
    TrainFromAugmentation,
    TrainFromDataset,
)
from shared.settings import Settings
from shared.tasks import get_task


class ParamsError(ValueError):
    """Parameters that cannot work together (a student whose hidden size is not a multiple of its heads)."""


class FromSetting:
    """Field metadata: an unset value defaults to ``Settings.<name>``, or to ``compute(settings, values)``
    when the default depends on fields resolved before it (``values``, in declaration order)."""

    def __init__(self, name: str = "", compute: Callable[[Settings, Mapping[str, Any]], Any] | None = None) -> None:
        self.name = name
        self.compute = compute

    def default(self, settings: Settings, values: Mapping[str, Any]) -> Any:
        return self.compute(settings, values) if self.compute is not None else getattr(settings, self.name)


def _task_seq_len(settings: Settings, values: Mapping[str, Any]) -> int:
    return settings.max_seq_len_pair if get_task(values["task"]).is_pair else settings.max_seq_len_single


#: ``max_seq_len`` defaults to max_seq_len_pair for sentence-pair tasks, else to max_seq_len_single.
TASK_SEQ_LEN = FromSetting(compute=_task_seq_len)


class ResolvedParams(BaseModel):
    """Base of every parameter model: frozen, no unknown fields, built with ``resolve``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: Keys written first in the stored JSON, in this order (the others follow in declaration order).
    record_order: ClassVar[tuple[str, ...]] = ()
    #: Keys left out of the stored JSON while they are None.
    omit_if_none: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def resolve(cls, settings: Settings, **given: Any) -> Self:
        """The model from ``given``; a None or missing field marked ``FromSetting`` takes its default.

        An unknown name is a TypeError (a mistake in the calling code; requests are validated before).
        """
        unknown = set(given) - set(cls.model_fields)
        if unknown:
            raise TypeError(f"unknown {cls.__name__} fields: {sorted(unknown)}")
        values = {name: value for name, value in given.items() if value is not None}
        for name, info in cls.model_fields.items():
            mark = next((m for m in info.metadata if isinstance(m, FromSetting)), None)
            if name not in values and mark is not None:
                values[name] = mark.default(settings, values)
        return cls.model_validate(values)

    @classmethod
    def setting_defaults(cls, settings: Settings) -> dict[str, Any]:
        """``{field: default}`` of the fields that default to a plain setting (what CLI help texts show)."""
        return {
            name: getattr(settings, mark.name)
            for name, info in cls.model_fields.items()
            for mark in info.metadata
            if isinstance(mark, FromSetting) and mark.compute is None
        }

    @model_serializer(mode="wrap")
    def _as_record(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in self.omit_if_none:
            if name in data and data[name] is None:
                del data[name]
        first = {name: data.pop(name) for name in self.record_order if name in data}
        return {**first, **data}


# --- augmentation ----------------------------------------------------------------------------------------


class AugmentRunParams(ResolvedParams):
    """Everything that decides an augmentation's output except the device (the machine's, not the job's)."""

    n: Annotated[int, FromSetting("aug_n")]
    k: Annotated[int, FromSetting("aug_k")]
    p: Annotated[float, FromSetting("aug_p")]
    seed: Annotated[int, FromSetting("aug_seed")]
    mlm_model: Annotated[str, FromSetting("mlm_model")]
    glove: Annotated[str, FromSetting("glove")]
    batch_size: Annotated[int, FromSetting("aug_batch_size")]
    pair_input: Annotated[bool, FromSetting("aug_pair_input")]
    stop_words: Annotated[str | None, FromSetting("aug_stop_words")] = None
    precision: Annotated[Precision, FromSetting("precision")] = Precision.FP32  # records older than the field: fp32


class AugmentJobParams(AugmentRunParams):
    """An augmentation job: the run's parameters, the dataset it reads and its shard size."""

    record_order = ("dataset_id", "n", "k", "p", "seed", "mlm_model", "glove", "shard_rows")

    dataset_id: str
    shard_rows: Annotated[int, FromSetting("shard_rows")]


# --- fine-tuning ------------------------------------------------------------------------------------------


class FinetuneRunParams(ResolvedParams):
    """Hyper-parameters of one fine-tuning run (task first: the sequence length's default depends on it)."""

    task: str
    epochs: Annotated[int, FromSetting("finetune_epochs")]
    lr: Annotated[float, FromSetting("finetune_lr")]
    batch_size: Annotated[int, FromSetting("batch_size")]
    max_seq_len: Annotated[int, TASK_SEQ_LEN]
    seed: Annotated[int, FromSetting("seed")]
    precision: Annotated[Precision, FromSetting("precision")] = Precision.FP32  # records older than the field: fp32


class FinetuneJobParams(FinetuneRunParams):
    """A fine-tune job: the encoder to start from, its datasets, and the pipeline it belongs to (if any)."""

    record_order = ("model", "dataset_id", "dev_dataset_id", "task")
    omit_if_none = frozenset({"pipeline_id"})

    model: str
    dataset_id: str
    dev_dataset_id: str | None = None
    pipeline_id: str | None = None


# --- distillation -----------------------------------------------------------------------------------------


class StudentShapeParams(ResolvedParams):
    """A fresh student of this shape."""

    layers: Annotated[int, FromSetting("student_layers")]
    hidden: Annotated[int, FromSetting("student_hidden")]
    heads: Annotated[int, FromSetting("student_heads")]
    intermediate: Annotated[int, FromSetting("student_intermediate")]


class StudentFromTeacherParams(ResolvedParams):
    """A student made of the teacher's embeddings and ``layers`` mapped layers."""

    init: Literal["teacher"]
    layers: Annotated[int, FromSetting("student_layers")]


class StudentCheckpointParams(ResolvedParams):
    """A student loaded from a checkpoint folder or hub id, ``layers`` of its layers kept (None: all)."""

    checkpoint: str
    layers: int | None = None


class StudentFromJobParams(ResolvedParams):
    """The output of a general distillation job (the worker resolves it to that job's model folder)."""

    job_id: str


StudentParams = StudentShapeParams | StudentFromTeacherParams | StudentCheckpointParams | StudentFromJobParams


def heads_problem(hidden: int, heads: int) -> str | None:
    """Why a student of this hidden size cannot have this many attention heads (each head gets hidden/heads)."""
    return f"{hidden} is not a multiple of heads={heads}" if hidden % heads else None


def resolve_student(request: StudentRequest, settings: Settings) -> StudentParams:
    """The student a request asks for, defaults filled in; ParamsError when hidden is not a multiple of heads."""
    if isinstance(request, StudentCheckpoint):
        return StudentCheckpointParams(checkpoint=request.checkpoint, layers=request.layers)
    if isinstance(request, StudentFromJob):
        return StudentFromJobParams(job_id=request.job_id)
    if isinstance(request, StudentFromTeacher):
        return StudentFromTeacherParams.resolve(settings, init="teacher", layers=request.layers)
    shape = StudentShapeParams.resolve(settings, **request.model_dump())
    if problem := heads_problem(shape.hidden, shape.heads):
        raise ParamsError(problem)
    return shape


class DistillRunParams(ResolvedParams):
    """Hyper-parameters of one distillation run (TinyBERT's recipe by default)."""

    task: str
    student: StudentParams
    stage1_epochs: Annotated[int, FromSetting("stage1_epochs")]
    stage2_epochs: Annotated[int, FromSetting("stage2_epochs")]
    lr1: Annotated[float, FromSetting("lr1")]
    lr2: Annotated[float, FromSetting("lr2")]
    batch_size: Annotated[int, FromSetting("batch_size")]
    max_seq_len: Annotated[int, TASK_SEQ_LEN]
    layer_map: Annotated[str | list[int], FromSetting("layer_map")]
    temperature: Annotated[float, FromSetting("temperature")]
    seed: Annotated[int, FromSetting("seed")]
    checkpoint_every: Annotated[int, FromSetting("checkpoint_every")]
    precision: Annotated[Precision, FromSetting("precision")] = Precision.FP32  # records older than the field: fp32
    allow_weak_teacher: bool = False  # distil even a teacher the guard finds no better than the baseline


class DistillJobParams(DistillRunParams):
    """A distillation job: its teacher (a model or a fine-tune job), training data, datasets and pipeline."""

    record_order = ("teacher", "train", "train_dataset_id", "dev_dataset_id", "task", "student")
    omit_if_none = frozenset({"pipeline_id"})

    teacher: str | JobRef
    train: TrainFromDataset | TrainFromAugmentation
    train_dataset_id: str
    dev_dataset_id: str | None = None
    pipeline_id: str | None = None
    #: ONNX fp32 + int8 exports beside the student (``workers.deploy.job_exports``); records from before it: on.
    export: Annotated[bool, FromSetting("export_in_jobs")] = True


# --- pipeline ---------------------------------------------------------------------------------------------


class PipelineChildren(ResolvedParams):
    """Ids of a pipeline's child jobs, by role (the child's job type); no fine-tune when a teacher was given."""

    finetune: str | None
    augmentation: str
    distillation: str

    def ids(self) -> list[str]:
        return [child for child in (self.finetune, self.augmentation, self.distillation) if child]


class PipelineJobParams(ResolvedParams):
    """A pipeline job: its inputs, the resolved params of each child (as created) and the children's ids."""

    dataset_id: str
    dev_dataset_id: str | None
    task: str
    teacher: str | JobRef | None
    base_model: str | None
    augment: AugmentJobParams
    finetune: FinetuneJobParams | None
    distill: DistillJobParams
    children: PipelineChildren

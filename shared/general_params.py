"""Parameters of a general-distillation job (``POST /v1/general-distillations``), resolved like the others."""

from __future__ import annotations

from typing import Annotated, Literal

from shared.job_params import FromSetting, ResolvedParams, StudentShapeParams
from shared.precision import Precision


class GeneralStudentParams(StudentShapeParams):
    """The student's shape and how it starts (records from before the field: random)."""

    init: Annotated[Literal["auto", "random", "pruned"], FromSetting("general_student_init")] = "random"


class GeneralDistillJobParams(ResolvedParams):
    """A general distillation: the pre-trained teacher, the corpus datasets, the student's shape, the recipe."""

    record_order = ("teacher", "corpus_dataset_ids", "student")

    teacher: str
    corpus_dataset_ids: list[str]
    student: GeneralStudentParams
    epochs: Annotated[int, FromSetting("general_epochs")]
    lr: Annotated[float, FromSetting("general_lr")]
    batch_size: Annotated[int, FromSetting("batch_size")]
    max_seq_len: Annotated[int, FromSetting("general_max_seq_len")]
    layer_map: Annotated[str | list[int], FromSetting("layer_map")]
    seed: Annotated[int, FromSetting("seed")]
    checkpoint_every: Annotated[int, FromSetting("checkpoint_every")]
    precision: Annotated[Precision, FromSetting("precision")] = Precision.FP32

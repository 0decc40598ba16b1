"""Engine configs from resolved parameters: where a ``FinetuneRunParams``/``DistillRunParams`` (from a job
record or from CLI flags) becomes a ``FinetuneConfig``/``DistillConfig``, for the distill worker and the CLI.

Every run-params field named like a config field is passed on as it is, so a parameter added to
``shared.job_params`` reaches the engine without a change here. Imports torch (through the engines).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from shared.job_params import (
    DistillRunParams,
    FinetuneRunParams,
    ResolvedParams,
    StudentCheckpointParams,
    StudentParams,
)
from shared.settings import Settings
from workers.distill.data import TrainSource
from workers.distill.finetune import FinetuneConfig
from workers.distill.models import StudentSpec
from workers.distill.train import DistillConfig


def config_fields(params: ResolvedParams, run_type: type[ResolvedParams], config_type: type) -> dict[str, Any]:
    """The fields of ``run_type`` (not of a job-params subclass: a job's ``teacher`` is a reference, the
    config's a path) that ``config_type`` also has, with their values in ``params``."""
    names = {f.name for f in dataclasses.fields(config_type)}
    return {name: getattr(params, name) for name in run_type.model_fields if name in names}


def student_spec(student: StudentParams) -> StudentSpec:
    """The engine's StudentSpec: a shape, the teacher's layers, or a checkpoint (unset fields: settings)."""
    if isinstance(student, StudentCheckpointParams):
        return StudentSpec(checkpoint=student.checkpoint, checkpoint_layers=student.layers)
    return StudentSpec(**student.model_dump())


def finetune_config(
    params: FinetuneRunParams,
    *,
    model: str,
    train: TrainSource,
    output_dir: str | Path,
    settings: Settings | None = None,
    **engine_only: Any,
) -> FinetuneConfig:
    """``engine_only``: what is not a job parameter (dev file, columns, device), None meaning the default."""
    return FinetuneConfig.from_settings(
        model=model,
        train=train,
        output_dir=output_dir,
        settings=settings,
        **config_fields(params, FinetuneRunParams, FinetuneConfig),
        **engine_only,
    )


def distill_config(
    params: DistillRunParams,
    *,
    teacher: str,
    train: TrainSource,
    output_dir: str | Path,
    settings: Settings | None = None,
    **engine_only: Any,
) -> DistillConfig:
    """``engine_only``: what is not a job parameter (dev file, columns, device, resume, loss weights...)."""
    fields = config_fields(params, DistillRunParams, DistillConfig)
    fields["student"] = student_spec(params.student)
    return DistillConfig.from_settings(
        teacher=teacher, train=train, output_dir=output_dir, settings=settings, **fields, **engine_only
    )

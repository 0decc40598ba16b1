"""The names jobs are known by: job types, RQ queues and training stages, one enum each.

They are ``StrEnum`` members, so JSON documents, Redis fields and RQ queue names hold the same plain strings
as before ("augmentation", "distill", "distill-intermediate"), and a member compares equal to its string.
"""

from __future__ import annotations

from enum import StrEnum


class JobType(StrEnum):
    """The ``type`` of a job record (and the role of a pipeline's child)."""

    AUGMENTATION = "augmentation"
    FINETUNE = "finetune"
    DISTILLATION = "distillation"
    PIPELINE = "pipeline"
    PREDICTION = "prediction"  # a finished model run over a dataset (workers.deploy.prediction_jobs)
    GENERAL_DISTILLATION = "general-distillation"


class QueueName(StrEnum):
    """RQ queues: shards and merges of augmentations on ``augment``, training jobs on ``distill``."""

    AUGMENT = "augment"
    DISTILL = "distill"


class Stage(StrEnum):
    """``progress.stage`` of a training job (and of the pipeline running it)."""

    FINETUNE = "finetune"
    AUGMENT = "augment"  # a distillation (or pipeline) waiting for augmented shards
    DISTILL_INTERMEDIATE = "distill-intermediate"
    DISTILL_PREDICTION = "distill-prediction"
    EVALUATE = "evaluate"
    GENERAL_DISTILL = "general-distill"  # TinyBERT's first stage: intermediate losses on unlabelled text

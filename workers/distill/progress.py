"""Progress reporting and cancellation: the contract between the training loops and whoever watches them.

The CLI renders events as a tqdm bar; the distill worker (``workers.distill.job_progress``) forwards them to
the job store. Both pass a ``should_stop`` callable that the loops check once per step.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from shared.job_types import Stage

#: The training loops' stage names (members of ``shared.job_types.Stage``, what a job's progress shows).
STAGE_FINETUNE = Stage.FINETUNE
STAGE_INTERMEDIATE = Stage.DISTILL_INTERMEDIATE
STAGE_PREDICTION = Stage.DISTILL_PREDICTION
STAGE_EVALUATE = Stage.EVALUATE


@dataclass
class ProgressEvent:
    """One report from a training loop: emitted after every step and after every evaluation."""

    stage: str
    epoch: int  # 1-based epoch within the stage
    step: int  # optimizer steps done within the stage
    total_steps: int  # current estimate of the stage's steps (grows if train shards land later)
    losses: dict[str, float] = field(default_factory=dict)
    samples_per_s: float = 0.0
    metrics: dict[str, float] | None = None  # latest dev metrics, when an evaluation just ran
    message: str | None = None  # a human note at stage changes ("resumed from step 200")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ProgressCallback(Protocol):
    def __call__(self, event: ProgressEvent) -> None: ...


ShouldStop = Callable[[], bool]


def emit(progress: ProgressCallback | None, event: ProgressEvent) -> None:
    """Send an event when someone listens."""
    if progress is not None:
        progress(event)

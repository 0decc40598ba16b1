"""Errors a user can fix (bad model, bad mapping, bad data) versus bugs.

The CLI turns these into a one-line message and exit status 2; the distill worker into a job error object.
"""

from __future__ import annotations


class DistillError(ValueError):
    """A problem with the inputs of a fine-tune or distillation run, stated so the user can fix it."""


class TrainingCancelled(RuntimeError):
    """Raised inside the training loop when ``should_stop()`` turns true; the last checkpoint stays on disk."""

    def __init__(self, stage: str, step: int) -> None:
        self.stage = stage
        self.step = step
        super().__init__(f"training cancelled in stage {str(stage)!r} after step {step}")  # a Stage member too


class UnsupportedTeacher(DistillError):
    """A model whose architecture distillation cannot read attention scores from; job error code below."""

    code = "unsupported_teacher"

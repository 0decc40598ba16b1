"""Why a request cannot become a job; each message names the field at fault, and the API maps the class
to its HTTP status (404, 422, 503) in ``services.api.app``."""

from __future__ import annotations


class OrchestrationError(Exception):
    """A request refused before any work was queued."""


class NotFound(OrchestrationError):
    """A dataset or job the request refers to does not exist (or belongs to another team)."""


class InvalidRequest(OrchestrationError):
    """The request is well-formed but cannot work (no task, a teacher job that has not succeeded...)."""


class QueueUnavailable(OrchestrationError):
    """The job could not be queued (Redis or RQ refused); the job record was failed, not left queued."""


class TooManyJobs(OrchestrationError):
    """The team has as many queued or running jobs as its limit allows; try again after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": str(retry_after_s)}


class OverLimit(OrchestrationError):
    """The request is larger than a limit of the team (rows out of an augmentation, stored bytes)."""

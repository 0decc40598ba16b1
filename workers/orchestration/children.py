"""A pipeline's children, seen from the job store: their ids, a summary of their progress, and cancelling
or failing them with their pipeline. Store-only (no RQ, no engines), so the API and the distill worker
share it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.job_params import PipelineChildren
from shared.job_store import JobStore
from shared.job_types import JobType, Stage
from shared.schemas import ACTIVE_STATUSES

#: Child role -> the pipeline's stage while that child is the first one not finished.
ROLE_STAGES = {
    JobType.FINETUNE: Stage.FINETUNE,
    JobType.AUGMENTATION: Stage.AUGMENT,
    JobType.DISTILLATION: Stage.DISTILL_INTERMEDIATE,
}
#: Progress fields of a child that the pipeline's summary repeats.
_SUMMARY_FIELDS = ("done", "total", "unit", "stage", "shards_done", "shards_total", "eta_s")


def children_of(job: dict[str, Any]) -> list[str]:
    """The child ids of a pipeline job (record or public object); none for any other job type."""
    if job.get("type") != JobType.PIPELINE:
        return []
    return PipelineChildren.model_validate(job["params"]["children"]).ids()


def cancel_with_children(jobs: JobStore, job_id: str) -> bool:
    """Cancel a job, and a pipeline's children with it (its augmentation runs on other workers)."""
    job = jobs.raw(job_id)
    ok = jobs.cancel(job_id)
    if job is not None:
        cancel_children(jobs, children_of(job))
    return ok


def cancel_children(jobs: JobStore, children: Iterable[str]) -> None:
    for child in children:
        jobs.cancel(child)


def fail_children(jobs: JobStore, children: Iterable[str], message: str) -> None:
    """Fail every child still queued or running (finished ones are left as they are)."""
    for child in children:
        jobs.fail(child, "pipeline_failed", message)


def summarise_pipeline(jobs: JobStore, job: dict[str, Any]) -> dict[str, Any]:
    """Add ``progress.children`` (id, status, progress, error of each child) and a stage when none is set.

    Any other job type is returned unchanged, so callers need not check the type.
    """
    if job["type"] != JobType.PIPELINE:
        return job
    summary: dict[str, Any] = {}
    for role, child_id in job["params"]["children"].items():
        child = jobs.get(child_id) if child_id else None
        if child is None:
            continue
        progress = child["progress"]
        summary[role] = {
            "id": child_id,
            "status": child["status"],
            "error": child["error"],
            "progress": {k: progress.get(k) for k in _SUMMARY_FIELDS if k in progress},
        }
    job["progress"]["children"] = summary
    if "stage" not in job["progress"]:
        pending = [role for role in ROLE_STAGES if role in summary and summary[role]["status"] in ACTIVE_STATUSES]
        job["progress"]["stage"] = ROLE_STAGES[pending[0]] if pending else None
    return job

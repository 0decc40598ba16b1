"""What a job stream reads, as small functions over the job store.

The job as ``GET /v1/jobs/{id}`` shows it, its events after a sequence number, its metric points after an
index: each is a short Redis read, so the stream calls them in the threadpool one tick at a time and never
holds a thread for the life of a connection. They sit here, apart from the stream, so that a change in how
the store keeps jobs touches these few lines only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shared.job_store import JobStore
from shared.schemas import TERMINAL_STATUSES
from workers.orchestration.children import summarise_pipeline

#: Most events or metric points one tick sends; the rest follow on the next ticks.
BATCH = 500


def job_view(jobs: JobStore, job_id: str, team: str) -> dict[str, Any] | None:
    """The public job (a pipeline with its children's summary); None when absent or another team's."""
    job = jobs.get(job_id, team)
    return None if job is None else summarise_pipeline(jobs, job)


def events_after(jobs: JobStore, job_id: str, after: int) -> list[dict[str, Any]]:
    return jobs.events(job_id, after=after, limit=BATCH)


def metric_points_from(jobs: JobStore, job_id: str, start: int) -> tuple[list[dict[str, Any]], int]:
    """Points at index >= ``start`` (at most BATCH) and the series' length, in one round trip."""
    return jobs.metrics_from(job_id, start, BATCH)


@dataclass
class Snapshot:
    """What changed since the cursors: the job (None when gone), new events, new metric points."""

    job: dict[str, Any] | None
    events: list[dict[str, Any]] = field(default_factory=list)
    points: list[dict[str, Any]] = field(default_factory=list)
    points_start: int = 0

    @property
    def terminal(self) -> bool:
        return self.job is None or self.job["status"] in TERMINAL_STATUSES

    @property
    def drained(self) -> bool:
        """Nothing was held back by the batch limit."""
        return len(self.events) < BATCH and len(self.points) < BATCH


@dataclass
class FeedCursor:
    """Where a stream is: the last event seq sent, the number of metric points sent, the last point's ts.

    The metrics list is trimmed from the front once it reaches ``metrics_max`` points; from then on an index
    no longer names a point, so new points are the ones newer than the last one sent.
    """

    after_event: int = 0
    metric_index: int = 0
    last_ts: float | None = None

    def read(self, jobs: JobStore, job_id: str, team: str, metrics_max: int) -> Snapshot:
        job = job_view(jobs, job_id, team)
        if job is None:
            return Snapshot(job=None)
        events = events_after(jobs, job_id, self.after_event)
        points, length = metric_points_from(jobs, job_id, self.metric_index)
        start = self.metric_index
        if length >= metrics_max and self.last_ts is not None:  # trimmed: go by time instead of index
            tail, _ = metric_points_from(jobs, job_id, max(0, length - BATCH))
            points = [p for p in tail if p.get("ts", 0) > self.last_ts]
            start = length - len(points)
        elif length < self.metric_index:  # the series was reset: send it again from the start
            points, _ = metric_points_from(jobs, job_id, 0)
            start = 0
        if events:
            self.after_event = events[-1]["seq"]
        if points:
            self.metric_index = start + len(points)
            self.last_ts = points[-1].get("ts", self.last_ts)
        return Snapshot(job=job, events=events, points=points, points_start=start)

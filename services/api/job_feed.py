"""What a job stream reads, as small functions over the job store.

The job as ``GET /v1/jobs/{id}`` shows it, its events after a sequence number, its metric points after an
index: each is a short Redis read, so the stream calls them in the threadpool one tick at a time and never
holds a thread for the life of a connection. They sit here, apart from the stream, so that a change in how
the store keeps jobs touches these few lines only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from shared import redis_keys as keys
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


#: A metric cursor at or above this is not a count of points but the time (ms since the epoch) of the last point
#: received: what a stream hands out, in its SSE ids, once the series is full and trimmed and indices shift. No
#: series holds that many points, and every ms timestamp since 2001 is larger.
TIME_CURSOR = 10**12


def _ms(point: dict[str, Any]) -> int:
    """A point's time in ms (points keep ``ts`` in seconds rounded to ms), the unit of time cursors."""
    return round(float(point.get("ts") or 0) * 1000)


def metric_window(jobs: JobStore, job_id: str, start: int, count: int) -> tuple[list[dict[str, Any]], int, int]:
    """At most ``count`` points from index ``start`` (negative: the last ``-start`` points), the index of the
    first and the series' length. One MULTI, so the index is right even while the series is being trimmed."""
    key = keys.job_metrics(job_id)
    with jobs.r.pipeline(transaction=True) as pipe:
        pipe.llen(key)
        pipe.lrange(key, start, start + count - 1 if start >= 0 else -1)
        length, docs = pipe.execute()
    first = start if start >= 0 else max(0, int(length) + start)
    return [json.loads(doc) for doc in docs], first, int(length)


@dataclass
class FeedCursor:
    """Where a stream is: the last event seq sent and the metric cursor, both sent back on reconnect.

    The metric cursor counts the points sent while the series is shorter than ``metrics_max``. At the cap the
    series is trimmed from the front, an index no longer names a point, and a count saturates (a reconnect with
    it used to read past the end forever); so from then on the cursor is the time of the last point sent
    (``TIME_CURSOR``), and new points are the ones newer than it.
    """

    after_event: int = 0
    metric_index: int = 0
    #: Time (ms) of the last point sent, and the index just after it as of the read that sent it: the point
    #: is there or, after trims, before it (only the front of a series is dropped), so a read starts near it.
    last_ms: int | None = None
    metric_pos: int | None = None

    def read(self, jobs: JobStore, job_id: str, team: str, metrics_max: int) -> Snapshot:
        job = job_view(jobs, job_id, team)
        if job is None:
            return Snapshot(job=None)
        events = events_after(jobs, job_id, self.after_event)
        points, start, length = self._new_points(jobs, job_id, metrics_max)
        if events:
            self.after_event = events[-1]["seq"]
        if points:
            self.metric_pos = start + len(points)
            self.last_ms = _ms(points[-1])
            by_time = length >= metrics_max and self.last_ms >= TIME_CURSOR
            self.metric_index = self.last_ms if by_time else self.metric_pos
        return Snapshot(job=job, events=events, points=points, points_start=start)

    def _new_points(self, jobs: JobStore, job_id: str, metrics_max: int) -> tuple[list[dict[str, Any]], int, int]:
        """Points not sent yet (at most BATCH), the index of the first, and the series' length."""
        if self.metric_index >= TIME_CURSOR:  # a reconnect after the series was full: go by time
            return self._points_after(jobs, job_id, self.metric_index)
        points, length = metric_points_from(jobs, job_id, self.metric_index)
        if length >= metrics_max:  # full and trimmed: an index may name another point than last time
            if self.last_ms is not None and self.last_ms >= TIME_CURSOR:
                return self._points_after(jobs, job_id, self.last_ms)
            if self.metric_index >= length:  # a count at the cap (a client without time cursors): assume it
                last, _, length = metric_window(jobs, job_id, -1, 1)  # has every point kept; send newer ones
                if last and _ms(last[-1]) >= TIME_CURSOR:
                    self.metric_index, self.last_ms, self.metric_pos = _ms(last[-1]), _ms(last[-1]), length
                return [], length, length
        elif length < self.metric_index:  # the series was reset: send it again from the start
            points, length = metric_points_from(jobs, job_id, 0)
            return points, 0, length
        return points, self.metric_index, length

    def _points_after(self, jobs: JobStore, job_id: str, since_ms: int) -> tuple[list[dict[str, Any]], int, int]:
        """The first BATCH points newer than ``since_ms``, the index of the first, and the series' length.

        Each read is one atomic window; it counts only if it starts at or before the last point sent (or at
        the series' start), so no newer point lies before it. Otherwise trims moved that point to the front:
        look further back, 8 times as far each time.
        """
        back = 1
        while True:
            if self.metric_pos is None:
                window, first, length = metric_window(jobs, job_id, -(back + BATCH), back + BATCH)
            else:
                window, first, length = metric_window(jobs, job_id, max(0, self.metric_pos - back), back + BATCH)
            if not window and first > 0:  # the series is shorter than where we were: it was reset
                self.metric_pos = None
                continue
            if not window or first == 0 or _ms(window[0]) <= since_ms:
                skip = next((i for i, p in enumerate(window) if _ms(p) > since_ms), len(window))
                return window[skip:][:BATCH], first + skip, length
            back *= 8

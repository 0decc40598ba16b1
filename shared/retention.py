"""Retention: finished jobs' artifacts are removed on request (DELETE /v1/jobs/{id}) or once older than
``DISTILLERY_JOB_TTL_DAYS``, so a shared server's disk does not fill with results nobody fetches.

An expired job keeps its record (status ``expired``, an ``expired`` event, the params and the error) so
a client polling it learns what happened; a deleted job is forgotten (404 afterwards). Either way the
team's stored bytes are given back. A job that a queued or running job of the team still reads (an
augmentation feeding a distillation, a fine-tune used as teacher) is left alone until that job is over.
The sweep runs in a thread of every API process (``RetentionSweeper``); two sweeps at once are harmless
because expiry is a first-wins status transition.
"""

from __future__ import annotations

import logging
import threading
import time

from shared import redis_keys as keys
from shared.job_store import JobStore
from shared.redis_conn import as_text
from shared.storage import Storage

log = logging.getLogger("distillery.retention")

_DAY = 86_400.0


def remove_job(jobs: JobStore, storage: Storage, job_id: str, team: str) -> None:
    """Delete a finished job's folder and its record (the caller checked ownership and status)."""
    storage.delete_job(job_id)
    jobs.delete(job_id, team)


def sweep_expired(jobs: JobStore, storage: Storage, ttl_s: float, now: float | None = None) -> list[str]:
    """Expire every job finished more than ``ttl_s`` ago: folder removed, status ``expired``; returns their ids."""
    cutoff = (time.time() if now is None else now) - ttl_s
    expired = []
    for job_id in jobs.finished_before(cutoff):
        team = jobs.r.hget(keys.job(job_id), "team")
        if team is None:  # deleted meanwhile
            jobs.r.zrem(keys.jobs_finished(), job_id)
            continue
        if jobs.claim_for_removal([job_id]):  # still read; claimed (marked removing) otherwise
            continue
        storage.delete_job(job_id)
        days = ttl_s / _DAY
        if jobs.expire(job_id, f"artifacts removed: finished more than {days:g} days ago (DISTILLERY_JOB_TTL_DAYS)"):
            log.info("job %s of team %s expired: artifacts removed after %g days", job_id, as_text(team), days)
            expired.append(job_id)
    return expired


class RetentionSweeper:
    """A daemon thread that sweeps every ``interval_s`` seconds until stopped (one per API process)."""

    def __init__(self, jobs: JobStore, storage: Storage, ttl_days: float, interval_s: float) -> None:
        self.jobs, self.storage = jobs, storage
        self.ttl_s = ttl_days * _DAY
        self.interval_s = max(1.0, interval_s)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="retention-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sweep_expired(self.jobs, self.storage, self.ttl_s)
            except Exception as exc:  # Redis down or a disk error: the next sweep tries again
                log.warning("retention sweep failed: %s", exc)
            self._stop.wait(self.interval_s)

"""The RQ worker class every `distillery worker` runs: a SimpleWorker that keeps a heartbeat while a job runs.

Why: RQ finds the jobs of a dead worker only when their entry in the queue's StartedJobRegistry expires and
some worker's maintenance pass cleans that registry (then the job's failure callback runs and it is retried).
A plain SimpleWorker sends no heartbeat while it executes a job, so RQ sets that entry to expire after the
whole job timeout (hours for a shard or a distillation) and a SIGKILLed worker's job would sit "running"
that long. Here a background thread refreshes the entry every third of ``heartbeat_ttl`` seconds, the entry
is given only ``heartbeat_ttl`` seconds, and an idle worker wakes at least every ``maintenance_interval``
seconds to run the clean-up. So a job whose worker was killed is retried about
``heartbeat_ttl + maintenance_interval`` seconds later by any live worker of its queue. After a job that
broke the process's CUDA context (``workers.device_errors``) the worker stops taking jobs and exits.
"""

from __future__ import annotations

import threading
from typing import Any

from rq import SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.queue import Queue
from rq.worker import WorkerStatus

from workers.device_errors import poisoned


class HeartbeatWorker(SimpleWorker):
    """One job at a time in this process (models stay loaded), with a short-lived, refreshed registry entry."""

    def __init__(self, *args: Any, heartbeat_ttl: int = 60, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.heartbeat_ttl = max(2, int(heartbeat_ttl))

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        return self.heartbeat_ttl

    @property
    def dequeue_timeout(self) -> int:
        """Block on the queue no longer than the maintenance interval, so idle workers still clean up."""
        return max(1, min(self.worker_ttl - 15, int(self.maintenance_interval)))

    def execute_job(self, job: Job, queue: Queue) -> None:
        execution = self.prepare_execution(job)
        stop = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, execution, stop), name="rq-heartbeat", daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue, execution)
        finally:
            stop.set()
            beat.join(timeout=5)
        self.set_state(WorkerStatus.IDLE)
        reason = poisoned()
        if reason is not None:  # the CUDA context is broken: take no more jobs; `up` starts a fresh worker
            self.log.error("Worker %s: stopping after a GPU failure: %s", self.name, reason)
            self._stop_requested = True

    def _beat(self, job: Job, execution: Execution, stop: threading.Event) -> None:
        interval = max(0.5, self.heartbeat_ttl / 3)
        while not stop.wait(interval):
            try:
                self.maintain_heartbeats(job, execution)
            except Exception as exc:  # Redis hiccup: the next beat retries; the entry has slack
                self.log.warning("Worker %s: heartbeat for job %s failed: %s", self.name, job.id, exc)

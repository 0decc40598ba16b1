"""What the RQ failure callbacks of every queue record about a failed attempt (see ``on_job_failure`` in
``workers.augment.jobs`` and ``workers.distill.jobs``)."""

from __future__ import annotations

import traceback
from types import TracebackType
from typing import Any

from shared.job_store import JobStore

#: Characters of a traceback kept in the job's events.
TRACEBACK_CHARS = 4000


def record_failure(
    store: JobStore,
    job_id: str,
    retries_left: int | None,
    exc_info: tuple[type[BaseException], BaseException, TracebackType | None],
    retried: str,
    failed: tuple[str, str],
    **event_data: Any,
) -> bool:
    """A "retried" event (message ``retried``) while RQ will run the job again, else the traceback and the job
    failed with ``failed`` = (code, message). True when it failed for good, so the caller cancels what depends on
    it; a job being cancelled or deleted is left alone."""
    if store.should_stop(job_id):
        return False
    if retries_left:
        store.add_event(job_id, "retried", retried, **event_data)
        return False
    if exc_info[2] is not None:
        store.add_event(job_id, "traceback", "".join(traceback.format_exception(*exc_info))[-TRACEBACK_CHARS:])
    store.fail(job_id, *failed)
    return True

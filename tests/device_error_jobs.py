"""An RQ job for tests/test_device_errors.py: a job body that hits a (simulated) CUDA failure."""

from __future__ import annotations

from rq import get_current_job

from shared.job_store import JobStore
from workers.device_errors import fail_job_on_device_error


def simulated_cuda_failure(job_id: str, message: str) -> dict[str, bool]:
    """What the augment and distill entry points do when the GPU fails under them."""
    store = JobStore(get_current_job().connection)
    try:
        raise RuntimeError(message)
    except RuntimeError as exc:
        if not fail_job_on_device_error(store, [job_id], exc, 64):
            raise
    return {"failed": True}

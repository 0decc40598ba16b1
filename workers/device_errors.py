"""What a worker does when the GPU fails under a job.

An RQ ``SimpleWorker`` runs every job in one long-lived process. After a CUDA device-side assert (or any
other CUDA runtime error) that process's CUDA context is unusable: every later job on it fails the same
way. So such an error fails the job with a clear message and marks the process poisoned; the worker then
exits after the job (``workers.rq_worker``), and ``distillery up`` starts a fresh one. An out-of-memory
error leaves the context usable: it fails only the job, with a message naming the batch size to lower.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.job_store import JobStore

#: Exit status of a worker that stopped because its CUDA context failed (``up`` restarts it).
POISONED_EXIT = 3

#: Phrases of CUDA runtime failures in torch's error messages (torch.AcceleratorError is the newer class).
_CUDA_MARKERS = ("CUDA error", "device-side assert", "CUBLAS_STATUS", "CUDNN_STATUS", "cuDNN error", "NCCL error")

_poisoned: list[str] = []


@dataclass(frozen=True)
class DeviceFailure:
    """A job error for a device failure; ``fatal``: the process must not run another job."""

    code: str
    message: str
    fatal: bool


def device_failure(exc: BaseException, batch_size: int | None, what: str = "batch size") -> DeviceFailure | None:
    """The job error for ``exc`` when it is an out-of-memory or CUDA failure; None for anything else."""
    text = str(exc)
    if _is_out_of_memory(exc, text):
        smaller = f"; retry with a smaller {what}, e.g. {max(1, batch_size // 2)}" if batch_size else ""
        at = f" at {what} {batch_size}" if batch_size else ""
        return DeviceFailure("out_of_memory", f"the device ran out of memory{at}{smaller} ({_first_line(text)})", False)
    if type(exc).__name__ == "AcceleratorError" or any(marker in text for marker in _CUDA_MARKERS):
        message = (
            f"the GPU failed ({_first_line(text)}); the worker restarts with a fresh CUDA context. "
            "A device-side assert usually means bad input ids or labels: check the data and the model's sizes"
        )
        return DeviceFailure("device_error", message, True)
    return None


def mark_poisoned(reason: str) -> None:
    """This process's CUDA context is broken: the worker exits after the current job."""
    _poisoned.append(reason)


def poisoned() -> str | None:
    """Why this process must stop taking jobs, or None."""
    return _poisoned[0] if _poisoned else None


def _is_out_of_memory(exc: BaseException, text: str) -> bool:
    return type(exc).__name__ == "OutOfMemoryError" or "out of memory" in text.lower()


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0][:300]


def fail_job_on_device_error(
    store: JobStore, job_ids: list[str], exc: BaseException, batch_size: int | None, what: str = "batch size"
) -> bool:
    """Fail ``job_ids`` when ``exc`` is a device failure (marking the process poisoned when fatal, freeing
    the cached GPU memory after an out-of-memory error); False, doing nothing, for any other error."""
    failure = device_failure(exc, batch_size, what)
    if failure is None:
        return False
    for job_id in job_ids:
        store.fail(job_id, failure.code, failure.message)
    if failure.fatal:
        mark_poisoned(failure.message)
    else:
        _release_cached_memory()
    return True


def _release_cached_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()

"""GPU failures under a job: out of memory fails the job naming the batch size; a CUDA error also stops
the worker process (its CUDA context is broken), which exits with POISONED_EXIT for `up` to restart."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import redis
import torch
from rq import Queue

from shared.job_store import JobStore
from tests.conftest import service_env, wait_until
from workers.device_errors import POISONED_EXIT, device_failure, fail_job_on_device_error, poisoned
from workers.distill.jobs import _execute

OOM = "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 79.11 GiB"
ASSERT = "CUDA error: device-side assert triggered\nCompile with `TORCH_USE_CUDA_DSA` to enable device-side assertions."


def test_out_of_memory_names_the_batch_size_and_a_smaller_one() -> None:
    failure = device_failure(torch.OutOfMemoryError(OOM), 64)
    assert failure is not None and failure.code == "out_of_memory" and not failure.fatal
    assert "batch size 64" in failure.message and "smaller batch size, e.g. 32" in failure.message
    assert "Tried to allocate 2.00 GiB" in failure.message
    assert device_failure(RuntimeError(OOM), None).message.startswith("the device ran out of memory (")


def test_a_cuda_error_is_fatal_and_other_errors_are_not_device_failures() -> None:
    failure = device_failure(RuntimeError(ASSERT), 32)
    assert failure is not None and failure.code == "device_error" and failure.fatal
    assert "device-side assert triggered" in failure.message and "Compile with" not in failure.message
    assert device_failure(ValueError("bad row 3"), 32) is None
    assert device_failure(RuntimeError("mat1 and mat2 shapes cannot be multiplied"), 32) is None


def test_distill_job_out_of_memory_fails_the_job_without_poisoning(redis_url: str) -> None:
    store = JobStore(redis.Redis.from_url(redis_url))
    job_id = store.create(job_type="distillation", team="t", params={"batch_size": 128})

    def body(rec: dict) -> dict:
        raise torch.OutOfMemoryError(OOM)

    assert _execute(store, job_id, body) == {"failed": True}
    error = store.raw(job_id)["error"]
    assert error["code"] == "out_of_memory" and "batch size 128" in error["message"]
    assert poisoned() is None  # the process stays usable after an OOM


def test_other_errors_still_go_back_to_rq_for_a_retry(redis_url: str) -> None:
    store = JobStore(redis.Redis.from_url(redis_url))
    job_id = store.create(job_type="distillation", team="t", params={})
    assert not fail_job_on_device_error(store, [job_id], KeyError("x"), 8)

    def body(rec: dict) -> dict:
        raise KeyError("not a device failure")

    with pytest.raises(KeyError):
        _execute(store, job_id, body)
    assert store.raw(job_id)["status"] == "running"


def test_a_worker_exits_after_a_cuda_error_and_takes_no_more_jobs(
    redis_url: str, tmp_path: Path, start_workers
) -> None:
    conn = redis.Redis.from_url(redis_url)
    store = JobStore(conn)
    first = store.create(job_type="augmentation", team="t", params={})
    second = store.create(job_type="augmentation", team="t", params={})
    queue = Queue("augment", connection=conn)
    for job_id in (first, second):
        queue.enqueue("tests.device_error_jobs.simulated_cuda_failure", job_id, ASSERT)
    (worker,) = start_workers(1, service_env(redis_url, tmp_path))
    try:
        code = worker.wait(120)
    except subprocess.TimeoutExpired:
        raise AssertionError("the worker kept running after a CUDA error") from None
    assert code == POISONED_EXIT
    wait_until(lambda: (store.raw(first) or {}).get("status") == "failed", 5, "the first job failed")
    assert store.raw(first)["error"]["code"] == "device_error"
    assert store.raw(second)["status"] == "queued"  # left for a fresh worker
    assert "exiting after a GPU failure" in (tmp_path / "worker-0.log").read_text()

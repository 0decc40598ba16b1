"""Helpers for the distill-worker tests (not a test module): tiny real models, an RTE-layout sample, worker env."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import run_in_repo, service_env
from tests.distill_helpers import glue_sample, make_tiny_teacher, tiny_encoder  # noqa: F401 (tiny_encoder: re-exported)
from tests.service_helpers import AUTH_A, make_client, upload

#: A student small enough for seconds per job (heads must equal the tiny teacher's 4).
TINY_STUDENT = {"layers": 1, "hidden": 32, "heads": 4, "intermediate": 64}


def worker_env(redis_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """Service env plus fast recovery and progress: a dead worker's job is retried within seconds."""
    fast = {
        "DISTILLERY_JOB_HEARTBEAT_TTL_S": "3",
        "DISTILLERY_WORKER_MAINTENANCE_S": "1",
        "DISTILLERY_PROGRESS_INTERVAL_S": "0.3",
        "DISTILLERY_SHARD_POLL_S": "0.2",
        "DISTILLERY_DEVICE": "cpu",
    }
    return service_env(redis_url, data_dir, **{**fast, **extra})  # ``extra`` may override these


def rte_teacher(folder: Path) -> Path:
    return make_tiny_teacher(folder, task="rte", layers=2, hidden=64, heads=4)


def upload_rte(client: TestClient, glue_dir: Path, tmp: Path, split: str, rows: int) -> dict[str, Any]:
    path = glue_sample(glue_dir, "RTE", split, rows, tmp / f"rte-{split}-{rows}.tsv")
    r = upload(client, path.name, path.read_bytes(), task="rte")
    assert r.status_code == 201, r.text
    return r.json()


@contextmanager
def rte_session(
    redis_url: str, tmp_path: Path, glue_dir: Path, train_rows: int, **env_extra: str
) -> Iterator[tuple[TestClient, dict[str, Any], dict[str, str]]]:
    """A client of the app on ``tmp_path/data`` with an RTE train sample of ``train_rows`` rows uploaded.
    Yields (client, the uploaded train dataset, `worker_env` for that data folder with ``env_extra``)."""
    data_dir = tmp_path / "data"
    with make_client(redis_url, data_dir) as client:
        train = upload_rte(client, glue_dir, tmp_path, "train", train_rows)
        yield client, train, worker_env(redis_url, data_dir, **env_extra)


def run_one_job(queue: str, env: dict[str, str]) -> None:
    """A real worker subprocess that executes exactly one job of ``queue`` and exits."""
    code = (
        "import importlib,sys; from rq import Queue; from shared.redis_conn import connect;"
        "from workers.rq_worker import HeartbeatWorker; c=connect();"
        f"importlib.import_module({'workers.augment.jobs' if queue == 'augment' else 'workers.distill.jobs'!r});"
        f"HeartbeatWorker([Queue({queue!r}, connection=c)], connection=c).work(burst=True, max_jobs=1)"
    )
    run_in_repo([sys.executable, "-c", code], env, 120)


def events(client: TestClient, job_id: str) -> list[dict[str, Any]]:
    return client.get(f"/v1/jobs/{job_id}/events", params={"limit": 1000}, headers=AUTH_A).json()["items"]


def get_job(client: TestClient, job_id: str) -> dict[str, Any]:
    r = client.get(f"/v1/jobs/{job_id}", headers=AUTH_A)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()


def wait_done(client: TestClient, job_id: str, timeout: float = 120.0) -> dict[str, Any]:
    """Poll until the job is terminal; fail with its last events on timeout."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = get_job(client, job_id)
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} not finished after {timeout}s: {events(client, job_id)[-8:]}")

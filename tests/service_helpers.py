"""Helpers for the service tests: an in-process API client on a real Redis, uploads, polling."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from services.api.app import create_app
from shared.settings import Settings
from tests.conftest import TEST_MODEL_ROOTS

KEY_A, KEY_B = "key-team-a", "key-team-b"
API_KEYS = f"team-a:{KEY_A},team-b:{KEY_B}"
AUTH_A = {"Authorization": f"Bearer {KEY_A}"}
AUTH_B = {"Authorization": f"Bearer {KEY_B}"}

SST2_SAMPLE = (
    "sentence\tlabel\n"
    "it 's a charming and often affecting journey . \t1\n"
    "unflinchingly bleak and desperate \t0\n"
    "allows us to hope that nolan is poised to embark a major career as a commercial yet inventive filmmaker . \t1\n"
)


def make_client(redis_url: str, data_dir: Path, **overrides: Any) -> TestClient:
    overrides.setdefault("model_roots", TEST_MODEL_ROOTS)
    settings = Settings(redis_url=redis_url, data_dir=data_dir, api_keys=API_KEYS, **overrides)
    return TestClient(create_app(settings))


def upload(client: TestClient, filename: str, data: bytes, headers: dict[str, str] = AUTH_A, **fields: str):
    return client.post("/v1/datasets", headers=headers, files={"file": (filename, data)}, data=fields)


def wait_for_status(
    client: TestClient, job_id: str, statuses: set[str], timeout: float = 180.0, headers: dict[str, str] = AUTH_A
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", headers=headers).json()
        if job["status"] in statuses:
            return job
        time.sleep(0.2)
    events = client.get(f"/v1/jobs/{job_id}/events", headers=headers).json()
    raise AssertionError(f"job {job_id} still {job.get('status')} after {timeout}s; events: {events}")

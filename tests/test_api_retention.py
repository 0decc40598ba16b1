"""Retention on the real app and a real Redis: DELETE /v1/jobs/{id} (409 while active, 404 for another
team) and the TTL sweep that marks finished jobs ``expired`` and gives their bytes back."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pytest

from shared.retention import sweep_expired
from tests.service_helpers import AUTH_A, AUTH_B, SST2_SAMPLE, make_client, upload


@pytest.fixture
def client(redis_url: str, tmp_path: Path, tiny_mlm_dir: Path):
    shutil.copytree(tiny_mlm_dir, tmp_path / "models" / "tiny-mlm")
    with make_client(redis_url, tmp_path / "data", model_roots=str(tmp_path / "models")) as c:
        yield c


def _finished_augmentation(client, size: int = 1000) -> str:
    """An augmentation job that a worker would have finished: a result file and a succeeded record."""
    ds = upload(client, "a.tsv", SST2_SAMPLE.encode(), task="sst-2").json()["id"]
    body = {"dataset_id": ds, "mlm_model": "tiny-mlm", "n": 1, "k": 2}
    job_id = client.post("/v1/augmentations", headers=AUTH_A, json=body).json()["id"]
    storage, jobs = client.app.state.storage, client.app.state.job_store
    result = storage.result_file(job_id, "tsv")
    result.parent.mkdir(parents=True, exist_ok=True)
    result.write_bytes(b"x" * size)
    jobs.mark_running(job_id)
    jobs.succeed(job_id, {"file": str(result.relative_to(storage.root)), "bytes": size, "rows_out": 6})
    return job_id


def test_delete_removes_a_finished_job(client) -> None:
    job_id = _finished_augmentation(client)
    folder = client.app.state.storage.job_dir(job_id)
    before = client.get("/v1/usage", headers=AUTH_A).json()["usage"]
    assert before["rows_out"] == 6 and before["stored_bytes"] == len(SST2_SAMPLE) + 1000
    assert client.delete(f"/v1/jobs/{job_id}", headers=AUTH_B).status_code == 404  # another team's
    assert folder.is_dir()
    assert client.delete(f"/v1/jobs/{job_id}", headers=AUTH_A).status_code == 204
    assert not folder.exists() and client.get(f"/v1/jobs/{job_id}", headers=AUTH_A).status_code == 404
    assert client.get("/v1/usage", headers=AUTH_A).json()["usage"]["stored_bytes"] == len(SST2_SAMPLE)
    assert client.delete(f"/v1/jobs/{job_id}", headers=AUTH_A).status_code == 404


def test_delete_refuses_active_jobs_and_jobs_being_read(client) -> None:
    job_id = _finished_augmentation(client)
    ds = client.get(f"/v1/jobs/{job_id}", headers=AUTH_A).json()["params"]["dataset_id"]
    queued = client.post("/v1/augmentations", headers=AUTH_A, json={"dataset_id": ds, "mlm_model": "tiny-mlm"})
    r = client.delete(f"/v1/jobs/{queued.json()['id']}", headers=AUTH_A)
    assert r.status_code == 409 and "queued" in r.json()["detail"]
    body = {"teacher": "tiny-mlm", "train": {"augmentation_job_id": job_id}}
    reader = client.post("/v1/distillations", headers=AUTH_A, json=body)
    assert reader.status_code == 202, reader.text
    r = client.delete(f"/v1/jobs/{job_id}", headers=AUTH_A)
    assert r.status_code == 409 and reader.json()["id"] in r.json()["detail"]
    paths = client.get("/openapi.json").json()["paths"]
    assert {"204", "401", "404", "409"} <= set(paths["/v1/jobs/{job_id}"]["delete"]["responses"])


def test_ttl_sweep_expires_finished_jobs(client, caplog: pytest.LogCaptureFixture) -> None:
    job_id = _finished_augmentation(client)
    jobs, storage = client.app.state.job_store, client.app.state.storage
    assert sweep_expired(jobs, storage, ttl_s=3600) == []  # not old enough
    with caplog.at_level(logging.INFO, logger="distillery.retention"):
        assert sweep_expired(jobs, storage, ttl_s=3600, now=time.time() + 7200) == [job_id]
    assert f"job {job_id} of team team-a expired" in caplog.text
    job = client.get(f"/v1/jobs/{job_id}", headers=AUTH_A).json()
    assert job["status"] == "expired" and not storage.job_dir(job_id).exists()
    events = client.get(f"/v1/jobs/{job_id}/events", headers=AUTH_A).json()["items"]
    assert events[-1]["kind"] == "expired" and "DISTILLERY_JOB_TTL_DAYS" in events[-1]["message"]
    assert client.get(f"/v1/jobs/{job_id}/result", headers=AUTH_A).status_code == 409
    assert client.get("/v1/usage", headers=AUTH_A).json()["usage"]["stored_bytes"] == len(SST2_SAMPLE)
    assert client.get("/v1/jobs?status=expired", headers=AUTH_A).json()["total"] == 1
    assert sweep_expired(jobs, storage, ttl_s=3600, now=time.time() + 7200) == []  # once only


def test_the_api_runs_the_sweep(redis_url: str, tmp_path: Path, tiny_mlm_dir: Path) -> None:
    shutil.copytree(tiny_mlm_dir, tmp_path / "models" / "tiny-mlm")
    settings = {"model_roots": str(tmp_path / "models"), "job_ttl_days": 1e-9, "retention_sweep_s": 1}
    with make_client(redis_url, tmp_path / "data", **settings) as client:
        job_id = _finished_augmentation(client)
        deadline = time.monotonic() + 10
        while client.get(f"/v1/jobs/{job_id}", headers=AUTH_A).json()["status"] != "expired":
            assert time.monotonic() < deadline, "the API's sweeper did not expire the job"
            time.sleep(0.2)

"""Retention on the real app and a real Redis: DELETE /v1/jobs/{id} (409 while active, 404 for another
team) and the TTL sweep that marks finished jobs ``expired`` and gives their bytes back."""

from __future__ import annotations

import asyncio
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


def test_an_expired_job_cannot_be_referenced(client) -> None:
    """Its shards (a model) are removed: refused at submission naming the field, not failed on the worker."""
    aug_id = _finished_augmentation(client)
    jobs, storage = client.app.state.job_store, client.app.state.storage
    assert sweep_expired(jobs, storage, ttl_s=3600, now=time.time() + 7200) == [aug_id]
    r = client.post(
        "/v1/distillations", headers=AUTH_A, json={"teacher": "tiny-mlm", "train": {"augmentation_job_id": aug_id}}
    )
    assert r.status_code == 422, r.text
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", "train", "augmentation_job_id"] and "shards" in detail["msg"]
    # a fine-tune used as teacher: the same, its model folder is gone
    ds = client.get(f"/v1/jobs/{aug_id}", headers=AUTH_A).json()["params"]["dataset_id"]
    ft_id = client.post("/v1/finetunes", headers=AUTH_A, json={"dataset_id": ds, "model": "tiny-mlm"}).json()["id"]
    jobs.mark_running(ft_id)
    jobs.succeed(ft_id, {"bytes": 0})
    assert sweep_expired(jobs, storage, ttl_s=3600, now=time.time() + 7200) == [ft_id]
    body = {"teacher": {"job_id": ft_id}, "train": {"dataset_id": ds}}
    r = client.post("/v1/distillations", headers=AUTH_A, json=body)
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "teacher", "job_id"], r.text
    assert "expired" in r.json()["detail"][0]["msg"] and "removed" in r.json()["detail"][0]["msg"]


def test_a_result_is_sent_whole_without_ranges(client) -> None:
    """Range is not served (the OpenAPI document lists no 206 or 416): the whole file, 200."""
    job_id = _finished_augmentation(client, size=100)
    r = client.get(f"/v1/jobs/{job_id}/result", headers={**AUTH_A, "Range": "bytes=10-19"})
    assert r.status_code == 200 and r.content == b"x" * 100 and "accept-ranges" not in r.headers
    assert r.headers["content-length"] == "100" and f"{job_id}-result.tsv" in r.headers["content-disposition"]
    r = client.get(f"/v1/jobs/{job_id}/result", headers={**AUTH_A, "Range": "bytes=500-"})
    assert r.status_code == 200


def test_a_result_removed_while_it_is_sent_is_not_a_500(client) -> None:
    """DELETE or the sweeper racing a download: the file is opened by the handler, so one removed after that
    is still sent whole; one removed before answers as the job now reads (404 deleted, 409 expired, 410)."""
    from services.api.routes.jobs import get_result

    job_id = _finished_augmentation(client, size=200_000)
    jobs, storage = client.app.state.job_store, client.app.state.storage
    response = get_result(job_id, "team-a", jobs, storage)  # the handler has run: the answer is not sent yet
    shutil.rmtree(storage.job_dir(job_id))

    async def body() -> bytes:
        return b"".join([bytes(chunk) async for chunk in response.body_iterator])

    assert asyncio.run(body()) == b"x" * 200_000
    r = client.get(f"/v1/jobs/{job_id}/result", headers=AUTH_A)
    assert r.status_code == 410 and "gone from storage" in r.json()["detail"]
    assert sweep_expired(jobs, storage, ttl_s=3600, now=time.time() + 7200) == [job_id]
    assert client.get(f"/v1/jobs/{job_id}/result", headers=AUTH_A).status_code == 409
    assert client.delete(f"/v1/jobs/{job_id}", headers=AUTH_A).status_code == 204
    assert client.get(f"/v1/jobs/{job_id}/result", headers=AUTH_A).status_code == 404


def test_a_cancelled_job_deleted_before_its_workers_noticed_stays_stopped_and_404(client) -> None:
    """POST cancel then DELETE right away: a worker that has not checked the flag yet still must stop, and its
    late progress writes must not bring back a partial record (GET answered 500 on a KeyError 'team')."""
    ds = upload(client, "a.tsv", SST2_SAMPLE.encode(), task="sst-2").json()["id"]
    body = {"dataset_id": ds, "mlm_model": "tiny-mlm", "n": 1, "k": 2}
    job_id = client.post("/v1/augmentations", headers=AUTH_A, json=body).json()["id"]
    jobs = client.app.state.job_store
    jobs.mark_running(job_id)
    assert client.post(f"/v1/jobs/{job_id}/cancel", headers=AUTH_A).status_code == 202
    assert client.delete(f"/v1/jobs/{job_id}", headers=AUTH_A).status_code == 204
    assert jobs.should_stop(job_id)  # what a queued shard and a running loop ask
    jobs.add_progress(job_id, 4, shard=0)
    jobs.set_progress_extra(job_id, stage="augment")
    jobs.add_event(job_id, "shard_stopped", "shard 0 stopped")
    assert jobs.add_event_unless_stopped(job_id, "shard_started", "shard 1 started") is None
    assert client.get(f"/v1/jobs/{job_id}", headers=AUTH_A).status_code == 404
    assert client.get(f"/v1/jobs/{job_id}/events", headers=AUTH_A).status_code == 404
    assert job_id not in [j["id"] for j in client.get("/v1/jobs", headers=AUTH_A).json()["items"]]

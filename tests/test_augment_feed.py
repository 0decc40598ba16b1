"""Fair scheduling of augmentation shards on a real Redis with a real worker: a small job of team B submitted
after a large job of team A finishes long before A does (FIFO: only after all of A's shards)."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from shared.settings import Settings
from tests.conftest import service_env
from tests.service_helpers import AUTH_A, AUTH_B, SST2_SAMPLE, make_client, upload, wait_for_status
from workers.augment import feed

pytestmark = pytest.mark.slow


def test_feed_hands_out_each_shard_once(redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    assert feed.next_shard(conn, "job_x") is None and not feed.is_fed(conn, "job_x")
    assert feed.open_feed(conn, "job_x", total=5, window=2) == 2
    assert [feed.next_shard(conn, "job_x") for _ in range(4)] == [2, 3, 4, None]
    assert feed.claim_merge(conn, "job_x") and not feed.claim_merge(conn, "job_x")
    assert feed.window_size(conn, Settings(fair_shard_window=3)) == 3  # no worker registered


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

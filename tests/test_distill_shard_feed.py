"""ShardFeed on a real Redis and real files: the first shard is enough to start, the last epochs wait for
all of them, a failed augmentation raises with its cause, a cancel stops the wait."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from shared.dataset_io import read_table
from shared.dataset_store import DatasetStore
from shared.job_store import JobStore
from shared.storage import Storage
from workers.distill.errors import TrainingCancelled
from workers.distill.shard_feed import AugmentationFailed, ShardFeed

HEADER = "sentence\tlabel\n"


@pytest.fixture
def setup(redis_url, tmp_path):
    conn = redis.Redis.from_url(redis_url)
    store, storage = JobStore(conn), Storage(tmp_path / "data")
    ds = "ds_feed"
    path = storage.dataset_file(ds, "tsv")
    path.parent.mkdir(parents=True)
    path.write_text(HEADER + "a fine film\t1\nawful\t0\n")
    DatasetStore(conn).add(
        "t",
        {"id": ds, "format": "tsv", "task": "sst-2", "text_columns": ["sentence"], "label_column": "label", "rows": 2},
    )
    aug = store.create(job_type="augmentation", team="t", params={"dataset_id": ds}, shards_total=3)
    return store, storage, aug, tmp_path / "feed"


def _finish_shard(store: JobStore, storage: Storage, aug: str, k: int) -> None:
    target = storage.shard_file(aug, k, "tsv")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(f"shard {k} row\t1\n")
    store.shard_done(aug, k)


def test_starts_on_the_first_shard_and_waits_for_all_before_the_last_epochs(setup) -> None:
    store, storage, aug, out = setup
    feed = ShardFeed(store, storage, aug, out, poll_s=0.05)
    _finish_shard(store, storage, aug, 1)
    files = feed()
    assert [f.name for f in files] == ["shard-00001.tsv"]
    assert [r[0] for r in read_table(files[0]).rows] == ["shard 1 row"]  # headed copy, readable
    feed.prepare_epoch("distill-intermediate", 0, 3)  # not the last stage-1 epoch: no wait

    threading.Timer(0.3, lambda: [_finish_shard(store, storage, aug, k) for k in (0, 2)]).start()
    started = time.monotonic()
    feed.prepare_epoch("distill-intermediate", 2, 3)  # the last one: waits for shards 0 and 2
    assert time.monotonic() - started >= 0.25
    assert [f.name for f in feed()] == ["shard-00000.tsv", "shard-00001.tsv", "shard-00002.tsv"]


def test_a_failed_augmentation_raises_its_cause(setup) -> None:
    store, storage, aug, out = setup
    feed = ShardFeed(store, storage, aug, out, poll_s=0.05)
    store.fail(aug, "shard_failed", "shard 0 failed: OSError: no such MLM")
    with pytest.raises(AugmentationFailed, match="no such MLM") as info:
        feed()
    assert info.value.code == "augmentation_failed" and aug in str(info.value)


def test_cancel_stops_the_wait(setup) -> None:
    store, storage, aug, out = setup
    flag = threading.Event()
    waits: list[dict] = []
    feed = ShardFeed(store, storage, aug, out, poll_s=0.05, should_stop=flag.is_set, on_wait=waits.append)
    threading.Timer(0.2, flag.set).start()
    with pytest.raises(TrainingCancelled):
        feed()
    assert waits and waits[0]["shards_done"] == 0 and waits[0]["shards_total"] == 3


def _succeed_all(store: JobStore, storage: Storage, aug: str) -> None:
    for k in range(3):
        _finish_shard(store, storage, aug, k)
    store.mark_running(aug)
    store.succeed(aug, {"bytes": 0})


def test_an_expired_augmentation_is_a_clear_failure_not_a_missing_file(setup) -> None:
    """Retention removed its shard files but ``shards_done`` stays: AugmentationFailed, not FileNotFoundError
    (which RQ retried twice for nothing)."""
    store, storage, aug, out = setup
    feed = ShardFeed(store, storage, aug, out, poll_s=0.05)
    _succeed_all(store, storage, aug)
    storage.delete_job(aug)
    assert store.expire(aug, "artifacts removed")
    with pytest.raises(AugmentationFailed, match="expired: retention removed its shards") as info:
        feed()
    assert info.value.code == "augmentation_failed"
    with pytest.raises(AugmentationFailed, match="expired"):
        ShardFeed(store, storage, aug, out / "again", poll_s=0.05)  # a feed made after the expiry


def test_a_deleted_augmentation_is_a_clear_failure(setup) -> None:
    store, storage, aug, out = setup
    feed = ShardFeed(store, storage, aug, out, poll_s=0.05)
    _succeed_all(store, storage, aug)
    storage.delete_job(aug)
    store.delete(aug, "t")
    with pytest.raises(AugmentationFailed, match="gone.*retention removed its shards"):
        feed()
    with pytest.raises(AugmentationFailed, match="gone"):
        ShardFeed(store, storage, aug, out / "again", poll_s=0.05)


def test_a_shard_file_removed_after_it_was_counted_is_a_clear_failure(setup) -> None:
    """The files went first and the status change has not landed yet: still AugmentationFailed."""
    store, storage, aug, out = setup
    feed = ShardFeed(store, storage, aug, out, poll_s=0.05)
    _succeed_all(store, storage, aug)
    storage.shard_file(aug, 1, "tsv").unlink()
    with pytest.raises(AugmentationFailed, match="shard 1 of augmentation job .* is missing"):
        feed()

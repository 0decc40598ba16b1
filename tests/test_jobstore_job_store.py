"""JobStore against a real Redis: transitions, counters under retries, events, cancel, ownership, listing."""

from __future__ import annotations

import multiprocessing
import time

import pytest
import redis

from shared import redis_keys as keys
from shared.dataset_store import DatasetInUse, DatasetStore
from shared.job_store import InputGone, JobStore, jobs_read


def _store(url: str, events_max: int = 10_000) -> JobStore:
    return JobStore(redis.Redis.from_url(url), events_max=events_max)


def test_create_and_public_shape(redis_url: str) -> None:
    store = _store(redis_url)
    job_id = store.create(job_type="augmentation", team="a", params={"n": 3}, total=10, shards_total=2)
    job = store.get(job_id, "a")
    assert job is not None
    assert set(job) == {
        "id",
        "type",
        "status",
        "created_at",
        "started_at",
        "finished_at",
        "params",
        "progress",
        "error",
        "result",
    }
    assert job["status"] == "queued" and job["params"] == {"n": 3}
    assert job["created_at"].endswith("Z") and job["started_at"] is None
    assert job["progress"] == {
        "done": 0,
        "total": 10,
        "unit": "rows",
        "rate_per_s": None,
        "eta_s": None,
        "shards_done": 0,
        "shards_total": 2,
    }
    assert store.get(job_id, "b") is None  # another team sees nothing
    assert store.get("job_missing") is None


def test_transitions_are_one_way(redis_url: str) -> None:
    store = _store(redis_url)
    job_id = store.create(job_type="augmentation", team="a", params={}, total=4)
    assert store.mark_running(job_id)
    assert not store.mark_running(job_id)  # the second shard to start changes nothing
    assert store.succeed(job_id, {"rows_out": 8})
    assert not store.fail(job_id, "late", "a late shard cannot fail a finished job")
    assert not store.cancel(job_id)
    job = store.get(job_id)
    assert job["status"] == "succeeded" and job["result"] == {"rows_out": 8} and job["error"] is None
    assert job["finished_at"] is not None and job["progress"]["eta_s"] == 0.0


def test_fail_sets_error_and_stops_siblings(redis_url: str) -> None:
    store = _store(redis_url)
    job_id = store.create(job_type="augmentation", team="a", params={})
    assert not store.should_stop(job_id)
    assert store.fail(job_id, "shard_failed", "shard 1 failed: boom")
    assert store.should_stop(job_id)
    assert store.get(job_id)["error"] == {"code": "shard_failed", "message": "shard 1 failed: boom"}


def test_cancel_is_idempotent(redis_url: str) -> None:
    store = _store(redis_url)
    job_id = store.create(job_type="augmentation", team="a", params={})
    assert store.cancel(job_id)
    assert not store.cancel(job_id)
    assert store.status(job_id) == "cancelled" and store.should_stop(job_id)
    kinds = [e["kind"] for e in store.events(job_id)]
    assert kinds.count("cancelled") == 1


def _start_until_stopped(url: str, job_id: str) -> None:
    store = _store(url)
    while store.add_event_unless_stopped(job_id, "shard_started", "started", shard=0) is not None:
        pass


def test_a_start_event_is_never_logged_after_the_cancel(redis_url: str) -> None:
    """The worker's check and its "started" event are one step: a cancel from another process falls before or
    after both, so no start is ever logged after the job's "cancelled" event."""
    store = _store(redis_url)
    job_id = store.create(job_type="augmentation", team="a", params={})
    assert store.add_event_unless_stopped(job_id, "shard_started", "started", shard=0) == 2
    starter = multiprocessing.get_context("spawn").Process(target=_start_until_stopped, args=(redis_url, job_id))
    starter.start()
    deadline = time.time() + 30
    while len(store.events(job_id, limit=100)) < 50 and time.time() < deadline:
        time.sleep(0.005)
    assert store.cancel(job_id)
    starter.join(30)
    assert starter.exitcode == 0
    events = store.events(job_id, limit=store.events_max)
    cancelled = next(e["seq"] for e in events if e["kind"] == "cancelled")
    starts = [e["seq"] for e in events if e["kind"] == "shard_started"]
    assert len(starts) >= 50 and max(starts) < cancelled
    assert store.add_event_unless_stopped(job_id, "shard_started", "started", shard=0) is None
    assert store.events(job_id, after=cancelled) == []


def test_retried_shard_does_not_double_count(redis_url: str) -> None:
    store = _store(redis_url)
    job_id = store.create(job_type="augmentation", team="a", params={}, total=10, shards_total=2)
    store.mark_running(job_id)
    store.reset_shard(job_id, 0)
    store.add_progress(job_id, 3, shard=0)
    store.add_progress(job_id, 2, shard=1)
    assert store.raw(job_id)["done"] == 5
    assert store.reset_shard(job_id, 0) == 3  # shard 0 is retried from scratch
    assert store.raw(job_id)["done"] == 2
    store.add_progress(job_id, 5, shard=0)
    assert store.shard_done(job_id, 0) == 1
    assert store.shard_done(job_id, 0) == 1  # finishing twice counts once
    progress = store.get(job_id)["progress"]
    assert progress["done"] == 7 and progress["shards_done"] == 1
    assert progress["rate_per_s"] > 0 and progress["eta_s"] is not None


def test_rate_and_eta_from_counters() -> None:
    rec = {
        "id": "j",
        "type": "t",
        "status": "running",
        "created_at": 0.0,
        "started_at": 100.0,
        "finished_at": None,
        "params": {},
        "result": None,
        "error": None,
        "done": 50,
        "total": 150,
        "unit": "rows",
        "shards_done": 1,
        "shards_total": 3,
        "progress_extra": {"stage": "augment"},
    }
    progress = JobStore.to_public(rec, now=110.0)["progress"]
    assert progress["rate_per_s"] == 5.0 and progress["eta_s"] == 20.0 and progress["stage"] == "augment"


def test_events_paging_and_trimming(redis_url: str) -> None:
    store = _store(redis_url, events_max=5)
    job_id = store.create(job_type="augmentation", team="a", params={})  # event 1: created
    for i in range(7):
        store.add_event(job_id, "note", f"note {i}", i=i)
    events = store.events(job_id)
    assert [e["seq"] for e in events] == [4, 5, 6, 7, 8]  # the oldest were dropped
    assert events[-1]["data"] == {"i": 6} and events[-1]["ts"].endswith("Z")
    assert [e["seq"] for e in store.events(job_id, after=6)] == [7, 8]
    assert [e["seq"] for e in store.events(job_id, after=1, limit=2)] == [4, 5]
    assert store.events(job_id, after=8) == []


def test_list_filters_and_pages(redis_url: str) -> None:
    store = _store(redis_url)
    ids = [store.create(job_type="augmentation" if i % 2 else "distillation", team="a", params={}) for i in range(5)]
    store.create(job_type="augmentation", team="b", params={})
    store.cancel(ids[1])
    page, total = store.list("a")
    assert total == 5 and [j["id"] for j in page] == ids[::-1]  # newest first
    page, total = store.list("a", job_type="augmentation")
    assert total == 2 and {j["id"] for j in page} == {ids[1], ids[3]}
    page, total = store.list("a", status="cancelled")
    assert total == 1 and page[0]["id"] == ids[1]
    page, total = store.list("a", offset=1, limit=2)
    assert total == 5 and [j["id"] for j in page] == [ids[3], ids[2]]


def _dataset(url: str, dataset_id: str) -> DatasetStore:
    datasets = DatasetStore(redis.Redis.from_url(url))
    datasets.add("a", {"id": dataset_id, "size_bytes": 10})
    return datasets


def test_a_dataset_read_by_an_active_job_is_not_deleted(redis_url: str) -> None:
    store, datasets = _store(redis_url), _dataset(redis_url, "ds_1")
    running = store.create(job_type="augmentation", team="a", params={}, dataset_ids=["ds_1"])
    done = store.create(job_type="augmentation", team="a", params={}, dataset_ids=["ds_1"])
    store.succeed(done)
    with pytest.raises(DatasetInUse) as refused:
        datasets.delete("ds_1", "a")
    assert refused.value.job_ids == [running] and datasets.get("ds_1") is not None
    store.cancel(running)
    datasets.delete("ds_1", "a")
    assert datasets.get("ds_1") is None and store.r.hget(keys.team_usage("a"), "stored_bytes") == b"0"


def test_a_job_registered_after_its_dataset_was_deleted_fails_and_says_so(redis_url: str) -> None:
    """The race of a submission (lookup, then create) with a DELETE between the two: the job is not left
    queued on a dataset that is gone."""
    store, datasets = _store(redis_url), _dataset(redis_url, "ds_1")
    datasets.delete("ds_1", "a")  # after the submission found it, before the job registers as its reader
    with pytest.raises(InputGone, match="ds_1"):
        store.create(job_type="finetune", team="a", params={}, dataset_ids=["ds_1"])
    (job,), _ = store.list("a")
    assert job["status"] == "failed" and job["error"]["code"] == "input_removed"


def test_a_job_read_by_an_active_job_is_not_claimed_for_removal(redis_url: str) -> None:
    store = _store(redis_url)
    teacher, other = (store.create(job_type="finetune", team="a", params={}) for _ in range(2))
    store.succeed(teacher)
    store.succeed(other)
    student = store.create(job_type="distillation", team="a", params={"teacher": {"job_id": teacher}})
    assert store.r.smembers(keys.job_readers(teacher)) == {student.encode()}
    # all or none: the refused claim marks neither job (it would refuse new jobs naming 'other' for nothing)
    assert store.claim_for_removal([other, teacher]) == (teacher, student)
    assert store.r.hget(keys.job(other), "removing") is None and store.r.hget(keys.job(teacher), "removing") is None
    assert store.claim_for_removal([teacher, student]) is None  # a reader removed with it does not count
    store.r.hdel(keys.job(teacher), "removing")
    store.cancel(student)
    assert store.claim_for_removal([teacher]) is None
    assert store.r.hget(keys.job(teacher), "removing") == b"1"
    store.delete(teacher, "a")
    assert not store.r.exists(keys.job_readers(teacher))


def test_a_job_naming_a_job_claimed_for_removal_fails_and_says_so(redis_url: str) -> None:
    """The race of a submission (lookup, then create) with a DELETE or the sweep between the two."""
    store = _store(redis_url)
    teacher = store.create(job_type="finetune", team="a", params={})
    store.succeed(teacher)
    assert store.claim_for_removal([teacher]) is None  # after the submission found it, before it registered
    with pytest.raises(InputGone, match=teacher):
        store.create(job_type="distillation", team="a", params={"teacher": {"job_id": teacher}})
    failed = [j for j in store.list("a")[0] if j["id"] != teacher]
    assert failed[0]["status"] == "failed" and failed[0]["error"]["code"] == "input_removed"


def test_jobs_read_are_the_ids_a_job_names_except_its_pipeline() -> None:
    ft, aug, pipe = "job_" + "1" * 20, "job_" + "2" * 20, "job_" + "3" * 20
    params = {"teacher": {"job_id": ft}, "train": {"augmentation_job_id": aug}, "pipeline_id": pipe, "n": 4}
    assert jobs_read(params, "job_" + "4" * 20) == [ft, aug]


def test_progress_extra_merges(redis_url: str) -> None:
    store = _store(redis_url)
    job_id = store.create(job_type="distillation", team="a", params={}, unit="steps")
    store.set_progress_extra(job_id, stage="distill-intermediate", epoch=1)
    store.set_progress_extra(job_id, epoch=2)
    progress = store.get(job_id)["progress"]
    assert progress["unit"] == "steps" and progress["stage"] == "distill-intermediate" and progress["epoch"] == 2


def _write_progress_fields(url: str, job_id: str, prefix: str, count: int) -> None:
    """One racing writer (a real process): waits for the start flag, then sets ``count`` distinct fields."""
    store = _store(url)
    while not store.r.exists("race:go"):
        time.sleep(0.001)
    for i in range(count):
        store.set_progress_extra(job_id, **{f"{prefix}{i}": i})


def test_progress_extra_writers_in_two_processes_lose_nothing(redis_url: str) -> None:
    """Two worker processes merge fields into one job at once (a child and its pipeline's writers do):
    every field of both must survive. A read-modify-write merge loses some of them here."""
    store = _store(redis_url)
    job_id = store.create(job_type="pipeline", team="a", params={}, unit="steps")
    count = 400
    spawn = multiprocessing.get_context("spawn")
    writers = [spawn.Process(target=_write_progress_fields, args=(redis_url, job_id, prefix, count)) for prefix in "ab"]
    for w in writers:
        w.start()
    store.r.set("race:go", 1)
    for w in writers:
        w.join(60)
        assert w.exitcode == 0
    progress = store.get(job_id)["progress"]
    for prefix in "ab":
        missing = [i for i in range(count) if progress.get(f"{prefix}{i}") != i]
        assert not missing, f"{len(missing)} of writer {prefix!r}'s fields were lost"


def test_shard_stats_and_metrics(redis_url: str) -> None:
    store = _store(redis_url)
    job_id, pipe = (store.create(job_type=t, team="a", params={}) for t in ("distillation", "pipeline"))
    store.record_shard_stats(job_id, 0, {"rows_out": 5, "replaced_mlm": 2})
    store.record_shard_stats(job_id, 1, {"rows_out": 7, "replaced_mlm": 1})
    store.record_shard_stats(job_id, 1, {"rows_out": 6, "replaced_mlm": 1})  # a retried shard replaces its stats
    assert store.shard_stats_total(job_id) == {"rows_out": 11, "replaced_mlm": 3}
    for step in range(5):
        store.append_metric([job_id, pipe], {"step": step, "losses": {}}, max_points=3)
    assert [p["step"] for p in store.metrics(job_id)] == [2, 3, 4] and store.metrics(pipe) == store.metrics(job_id)


# --- quotas -----------------------------------------------------------------------------------------------


def _admit(url: str, n: int, out: multiprocessing.Queue[str]) -> None:
    from shared.job_store import ActiveLimitReached

    store = _store(url)
    for _ in range(n):
        try:
            out.put(store.create(job_type="augmentation", team="q", params={}, active_limit=5))
        except ActiveLimitReached:
            out.put("refused")


def test_active_limit_is_atomic_across_processes(redis_url: str) -> None:
    """Eight processes submitting 5 jobs each against a limit of 5: exactly 5 are created, never more."""
    out: multiprocessing.Queue[str] = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_admit, args=(redis_url, 5, out)) for _ in range(8)]
    for p in procs:
        p.start()
    answers = [out.get(timeout=60) for _ in range(40)]
    for p in procs:
        p.join(30)
    created = [a for a in answers if a != "refused"]
    store = _store(redis_url)
    assert len(created) == 5 and store.active_count("q") == 5 and store.list("q")[1] == 5
    store.cancel(created[0])
    store.succeed(created[1], {"bytes": 120, "rows_out": 30})
    assert store.active_count("q") == 3  # finished jobs are pruned from the count
    assert store.create(job_type="augmentation", team="q", params={}, active_limit=5)
    assert store.usage("q") == {"stored_bytes": 120, "rows_out": 30}
    assert store.release_bytes(created[1], "q") == 120 and store.release_bytes(created[1], "q") == 0
    assert store.usage("q")["stored_bytes"] == 0
    assert store.status_counts("q") == {"queued": 4, "cancelled": 1, "succeeded": 1}


# --- deletion: a deleted job stays stopped and is never recreated by a late worker ---------------------------


def _job_keys(store: JobStore, job_id: str) -> set[str]:
    return {k.decode() for k in store.r.keys(keys.job(job_id) + "*")}


def _late_worker_writes(store: JobStore, job_id: str) -> None:
    """Every write a shard or a training makes, as a worker that has not noticed the delete yet makes them."""
    assert store.reset_shard(job_id, 0) == 0
    assert store.add_progress(job_id, 5, shard=0) == 0
    store.set_progress_extra(job_id, stage="distill-intermediate", epoch=1)
    store.record_shard_stats(job_id, 0, {"rows_out": 5})
    assert store.shard_done(job_id, 0) == 0  # 0: no merge is ever queued for it
    store.append_metric([job_id], {"step": 1, "losses": {}}, max_points=10)
    assert store.add_event(job_id, "shard_done", "shard 0 done") == 0
    assert store.add_event_unless_stopped(job_id, "shard_started", "started", shard=1) is None
    assert not store.mark_running(job_id) and not store.fail(job_id, "late", "a late failure")


@pytest.mark.parametrize("finish", ["cancel", "fail"])
def test_a_deleted_job_stays_stopped_and_is_not_recreated(redis_url: str, finish: str) -> None:
    """Cancel (or fail) then delete: the workers that have not seen the stop yet must still see it, and their
    progress writes must not leave a partial record behind (it would read as a 500 instead of a 404)."""
    from shared.job_store import DELETED_STOP_FLAG_S

    store = _store(redis_url)
    job_id = store.create(job_type="augmentation", team="a", params={}, total=10, shards_total=2)
    store.mark_running(job_id)
    store.add_progress(job_id, 3, shard=0)
    assert store.cancel(job_id) if finish == "cancel" else store.fail(job_id, "shard_failed", "boom")
    store.delete(job_id, "a")
    assert store.should_stop(job_id)
    assert 0 < store.r.ttl(keys.job_cancel(job_id)) <= DELETED_STOP_FLAG_S  # a tombstone, not a permanent key
    _late_worker_writes(store, job_id)
    assert _job_keys(store, job_id) == {keys.job_cancel(job_id)}
    assert store.get(job_id) is None and store.raw(job_id) is None and store.list("a") == ([], 0)
    store.cancel(job_id)  # a late cancel (a pipeline cancelling its children) keeps the tombstone's expiry
    assert store.r.ttl(keys.job_cancel(job_id)) > 0 and store.get(job_id) is None
    store.r.delete(keys.job_cancel(job_id))  # the tombstone expired: a missing record still means stop
    assert store.should_stop(job_id)


def test_a_failure_callback_leaves_a_deleted_job_alone(redis_url: str) -> None:
    """RQ's failure callback of a shard that was running when its job was deleted records nothing."""
    from workers.job_failure import record_failure

    store = _store(redis_url)
    job_id = store.create(job_type="augmentation", team="a", params={})
    store.cancel(job_id)
    store.delete(job_id, "a")
    exc = RuntimeError("boom")
    assert not record_failure(store, job_id, 0, (RuntimeError, exc, None), "retried", ("shard_failed", "boom"))
    assert _job_keys(store, job_id) == {keys.job_cancel(job_id)}


def test_a_partial_record_reads_as_absent(redis_url: str) -> None:
    """A hash without ``team`` (left by a writer that raced a delete before this fix) is no job: None, not a
    KeyError, for the sync store and the API's async reader alike."""
    import asyncio

    import redis.asyncio as aioredis

    from shared.job_reader import AsyncJobReader

    store = _store(redis_url)
    job_id = "job_partial"
    store.r.hset(keys.job(job_id), mapping={"done": 7, "extra:stage": '"distill"'})
    store.r.zadd(keys.team_jobs("a"), {job_id: time.time()})
    assert store.raw(job_id) is None and store.get(job_id) is None and store.get(job_id, "a") is None
    assert store.list("a")[0] == []

    async def read() -> object:
        conn = aioredis.Redis.from_url(redis_url)
        try:
            return await AsyncJobReader(conn).get(job_id, "a")
        finally:
            await conn.aclose()

    assert asyncio.run(read()) is None

"""RQ entry points of an augmentation job: plan and enqueue shards, run one shard, merge the shards.

RQ is only the executor; every fact about the job (status, counters, events) goes to the JobStore.
This module imports no torch at import time (the API imports it to enqueue); the engine is imported
inside the shard function, and ``get_augmenter`` keeps the MLM and GloVe index loaded across shards of
one worker process (workers run jobs in-process, see ``services.cli.worker``).

Failure policy: a shard that raises is retried by RQ (``Retry(settings.shard_retries)``), and so is one
whose worker died (RQ's abandoned-job cleanup). ``on_job_failure`` runs on every failure: while retries
are left it logs a "retried" event, after the last one it marks the job failed with an error object
and cancels the merge, so a failed job never hangs as "running".
"""

from __future__ import annotations

import traceback
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import redis
from rq import Callback, Queue, Retry, get_current_job
from rq.exceptions import DuplicateJobError
from rq.job import Job as RQJob

from shared.dataset_io import DatasetSpec, Table, atomic_write_text, format_header, format_rows, read_table
from shared.job_params import AugmentJobParams
from shared.job_store import JobStore
from shared.job_types import QueueName
from shared.redis_conn import connect
from shared.schemas import ACTIVE_STATUSES
from shared.settings import Settings, get_settings
from shared.storage import DISK_FULL, Storage, atomic_concat, is_disk_full
from workers.augment import feed
from workers.cancel_check import throttled
from workers.device_errors import fail_job_on_device_error
from workers.job_failure import record_failure

#: RQ ids are "<job id>--<part>" (RQ allows letters, digits, '_' and '-'), so a callback finds the job.
_RQ_SEP = "--"


def rq_shard_id(job_id: str, shard: int) -> str:
    return f"{job_id}{_RQ_SEP}shard-{shard}"


def rq_merge_id(job_id: str) -> str:
    return f"{job_id}{_RQ_SEP}merge"


def plan_shards(n_rows: int, shard_rows: int) -> list[tuple[int, int]]:
    """[start, end) row ranges of ``shard_rows`` rows each (the last one shorter)."""
    return [(start, min(start + shard_rows, n_rows)) for start in range(0, n_rows, shard_rows)]


def _enqueue_options(settings: Settings) -> dict[str, Any]:
    """RQ options of every shard and merge job: timeout, result TTL, retries, failure callback."""
    retry = Retry(max=settings.shard_retries) if settings.shard_retries > 0 else None
    return dict(
        job_timeout=settings.shard_timeout_s,
        result_ttl=settings.rq_result_ttl_s,
        retry=retry,
        on_failure=Callback(on_job_failure),
    )


def _queue_shard(queue: Queue, options: dict[str, Any], job_id: str, shard: int, span: tuple[int, int], *args: Any):
    """Queue shard ``shard`` (input rows ``span``); ``args`` are its source and params documents."""
    return queue.enqueue(run_shard, job_id, shard, *span, *args, job_id=rq_shard_id(job_id, shard), **options)


def _queue_once(enqueue: Callable[[], object]) -> None:
    """Run ``enqueue`` (given ``unique=True``), which queues under a deterministic RQ id unless a job of that id
    exists (queued, running or kept finished). Atomic (RQ's unique enqueue): a plain enqueue would overwrite a
    running job's hash and run it twice, which a retried hand-off must never do."""
    try:
        enqueue()
    except DuplicateJobError:
        pass  # queued already


def enqueue_augmentation(
    connection: redis.Redis, settings: Settings, job_id: str, dataset: dict[str, Any], params: AugmentJobParams
) -> list[str]:
    """Enqueue the shards of a job (RQ job per shard) and its merge; returns the RQ ids queued now.

    Fair scheduling (the default, ``workers.augment.feed``): only a window of shards now, each finished shard
    queues the next and the last one the merge. FIFO: every shard now, and a merge depending on all of them.
    Shards get the params as their JSON document (what the job record holds), not as a pickled model.
    """
    queue = Queue(QueueName.AUGMENT, connection=connection)
    options = _enqueue_options(settings)
    source = {k: dataset[k] for k in ("id", "format", "task", "text_columns", "label_column")}
    doc = params.model_dump(mode="json")
    plan = plan_shards(dataset["rows"], params.shard_rows)
    if settings.fair_scheduling:
        first = feed.open_feed(connection, job_id, len(plan), feed.window_size(connection, settings))
        return [_queue_shard(queue, options, job_id, k, plan[k], source, doc).id for k in range(first)]
    shard_jobs = [_queue_shard(queue, options, job_id, k, span, source, doc) for k, span in enumerate(plan)]
    merge = queue.enqueue(
        run_merge, job_id, len(shard_jobs), source, job_id=rq_merge_id(job_id), depends_on=shard_jobs, **options
    )
    return [j.id for j in shard_jobs] + [merge.id]


def feed_next(store: JobStore, job_id: str, shard: int, source: dict[str, Any], params: dict[str, Any]) -> None:
    """After a shard of a fed job finished: queue the job's next shard, or the merge once all are done.

    Idempotent, so RQ may retry a shard killed (or raising) midway through it: the retry is handed the same
    next index (``feed.next_shard``), and shards and the merge are queued only if not queued already.
    ``shard`` is the shard that finished (``store.shard_done`` recorded it).
    """
    conn = store.r
    if not feed.is_fed(conn, job_id) or store.should_stop(job_id):
        return  # FIFO: everything is queued already; a cancelled or failed job queues nothing more
    rec = store.raw(job_id)
    if rec is None or rec["status"] not in ACTIVE_STATUSES:
        return  # a late retry after the merge succeeded: nothing left to queue
    queue = Queue(QueueName.AUGMENT, connection=conn)
    options = {**_enqueue_options(get_settings()), "unique": True}
    index = feed.next_shard(conn, job_id, shard)
    done = store.shards_finished(job_id)
    if index is not None and index not in done:  # done already: its RQ job may have expired, don't rerun it
        span = plan_shards(rec["total"], int(params["shard_rows"]))[index]
        _queue_once(lambda: _queue_shard(queue, options, job_id, index, span, source, params))
    if len(done) >= rec["shards_total"]:  # every finishing shard that sees all done queues the merge if absent
        total = rec["shards_total"]
        _queue_once(lambda: queue.enqueue(run_merge, job_id, total, source, job_id=rq_merge_id(job_id), **options))


# --- helpers inside a worker ------------------------------------------------------------------------


def _store() -> JobStore:
    current = get_current_job()
    conn = current.connection if current is not None else connect()
    return JobStore(conn, events_max=get_settings().job_events_max)


@lru_cache(maxsize=4)
def _load_table(path: str, mtime_ns: int, fmt: str, task: str | None) -> Table:
    """A dataset parsed once per worker process (keyed by mtime so a replaced file is re-read)."""
    return read_table(path, fmt, task=task)


def load_source(source: dict[str, Any]) -> tuple[Table, DatasetSpec]:
    """The dataset table and its spec, exactly as the CLI resolves them."""
    path = Storage(get_settings().data_dir).dataset_file(source["id"], source["format"])
    table = _load_table(str(path), path.stat().st_mtime_ns, source["format"], source["task"])
    spec = DatasetSpec(tuple(source["text_columns"]), source["label_column"], source["task"])
    return table, spec


# --- the entry points ---------------------------------------------------------------------------------


def run_shard(
    job_id: str, shard: int, start: int, end: int, source: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    """Augment input rows [start, end) and write them, atomically, as shard ``shard``'s file."""
    from workers.augment.engine import AugmentCancelled, AugmentParams, get_augmenter
    from workers.augment.mlm import ModelLoadError

    store = _store()
    store.mark_running(job_id)  # no-op unless queued: a cancelled job stays cancelled
    attempt = _attempt(get_current_job())
    started = store.add_event_unless_stopped(  # atomic with the stop check: a cancel is either before or after
        job_id,
        "shard_started",
        f"shard {shard} started (rows {start}-{end - 1}, attempt {attempt})",
        shard=shard,
        attempt=attempt,
    )
    if started is None:
        store.add_event(job_id, "shard_skipped", f"shard {shard} skipped: job {store.status(job_id)}", shard=shard)
        return {"skipped": True}
    store.reset_shard(job_id, shard)
    table, spec = load_source(source)
    part = table.with_rows(table.rows[start:end])
    try:
        engine_params = AugmentParams.from_run(AugmentJobParams.model_validate(params), get_settings().device)
        augmenter = get_augmenter(engine_params)
    except (ModelLoadError, FileNotFoundError, ValueError, TypeError) as exc:
        # Deterministic: a missing model or a bad GloVe source fails the same way on every retry.
        store.fail(job_id, "bad_parameters", f"cannot load the augmenter: {exc}")
        return {"failed": True}
    store.set_progress_extra(job_id, precision=augmenter.precision.model_dump())  # the merge copies it
    before = dict(augmenter.stats)

    def on_progress(rows_done: int) -> None:
        store.add_progress(job_id, rows_done, shard)

    try:
        rows = augmenter.augment_rows(
            part,
            spec,
            row_offset=start,
            on_progress=on_progress,
            should_stop=throttled(lambda: store.should_stop(job_id), get_settings().cancel_check_s),
        )
    except AugmentCancelled:
        store.add_event(job_id, "shard_stopped", f"shard {shard} stopped: job {store.status(job_id)}", shard=shard)
        return {"stopped": True}
    except Exception as exc:  # a GPU failure fails the job (no retry: it would fail the same way)
        if not fail_job_on_device_error(store, [job_id], exc, augmenter.params.batch_size, "MLM batch size"):
            raise
        return {"failed": True}
    fmt = source["format"]
    try:
        atomic_write_text(Storage(get_settings().data_dir).shard_file(job_id, shard, fmt), [format_rows(part, rows)])
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        store.fail(job_id, "disk_full", f"shard {shard}: {DISK_FULL}")  # retries would fail alike: stop now
        return {"failed": True}
    stats = {k: augmenter.stats.get(k, 0) - before.get(k, 0) for k in augmenter.stats}
    stats["rows_out"] = len(rows)
    store.record_shard_stats(job_id, shard, stats)
    finished = store.shard_done(job_id, shard)
    store.add_event(
        job_id,
        "shard_done",
        f"shard {shard} done: {end - start} rows in, {len(rows)} rows out",
        shard=shard,
        rows_out=len(rows),
        shards_done=finished,
    )
    feed_next(store, job_id, shard, source, params)
    return stats


def run_merge(job_id: str, shards_total: int, source: dict[str, Any]) -> dict[str, Any]:
    """Concatenate header + shard files in row order into the result file, then mark the job succeeded."""
    store = _store()
    if store.should_stop(job_id):
        return {"skipped": True}
    finished = store.shards_finished(job_id)
    missing = sorted(set(range(shards_total)) - finished)
    if missing:
        store.fail(job_id, "missing_shards", f"shards {missing} have no output; cannot merge")
        return {"failed": True}
    storage = Storage(get_settings().data_dir)
    fmt = source["format"]
    table, _ = load_source(source)
    target = storage.result_file(job_id, fmt)
    try:
        size = atomic_concat(
            target,
            format_header(table).encode("utf-8"),
            [storage.shard_file(job_id, k, fmt) for k in range(shards_total)],
        )
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        store.fail(job_id, "disk_full", f"merge: {DISK_FULL}")
        return {"failed": True}
    totals = store.shard_stats_total(job_id)
    record = store.raw(job_id) or {}
    result = {
        "rows_in": len(table.rows),
        "rows_out": totals.pop("rows_out", 0),
        "format": fmt,
        "bytes": size,
        "download": f"/v1/jobs/{job_id}/result",
        "file": str(target.relative_to(storage.root)),
        "stats": totals,
        "precision": (record.get("progress_extra") or {}).get("precision"),  # what the shards ran, and why
    }
    store.add_event(job_id, "merged", f"merged {shards_total} shards into {target.name} ({size} bytes)")
    store.succeed(job_id, result)
    return result


def _attempt(current: RQJob | None) -> int:
    if current is None or current.retries_left is None:
        return 1
    return get_settings().shard_retries - int(current.retries_left) + 1


def _job_store_id(rq_id: str) -> tuple[str, str]:
    """RQ id -> (job store id, human name of the part)."""
    job_id, _, rest = rq_id.partition(_RQ_SEP)
    return job_id, rest.replace("-", " ") or "job"


def on_job_failure(job: RQJob, connection: redis.Redis, exc_type: type, exc_value: BaseException, tb: Any) -> None:
    """RQ failure callback (exceptions and dead workers alike): log a retry, or fail the whole job."""
    try:
        store = JobStore(connection, events_max=get_settings().job_events_max)
        job_id, part = _job_store_id(job.id)
        reason = f"{exc_type.__name__}: {exc_value}".strip().rstrip(":")
        retried = f"{part} failed ({reason}); retrying, {job.retries_left} retries left"
        failed = (f"{part.split(' ')[0]}_failed", f"{part} failed: {reason}")
        if record_failure(
            store, job_id, job.retries_left, (exc_type, exc_value, tb), retried, failed, part=part, error=reason
        ):
            try:
                RQJob.fetch(rq_merge_id(job_id), connection=connection).cancel()
            except Exception:  # the merge may be gone already; nothing else depends on it
                pass
    except Exception:  # a callback that raises would hide the original failure in RQ's logs
        traceback.print_exc()

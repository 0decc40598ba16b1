"""Every Redis key Distillery writes, in one place.

The API, the workers and the tests build keys only through these functions, so a key's shape is
defined once and a reader can never disagree with a writer. RQ's own keys (``rq:*``) are RQ's business.
"""

from __future__ import annotations

PREFIX = "distillery"


def job(job_id: str) -> str:
    """Hash: the job record (status, timestamps, params/result/error JSON, counters)."""
    return f"{PREFIX}:job:{job_id}"


def job_events(job_id: str) -> str:
    """List of JSON events, oldest first (trimmed to settings.job_events_max)."""
    return f"{PREFIX}:job:{job_id}:events"


def job_event_seq(job_id: str) -> str:
    """Counter giving each event a monotonic sequence number (clients page with ``after=seq``)."""
    return f"{PREFIX}:job:{job_id}:event_seq"


def job_shard_progress(job_id: str) -> str:
    """Hash shard index -> input rows done in its current attempt (a retry resets its own count)."""
    return f"{PREFIX}:job:{job_id}:shard_progress"


def job_shards_done(job_id: str) -> str:
    """Set of finished shard indexes (a set, so a shard retried after finishing counts once)."""
    return f"{PREFIX}:job:{job_id}:shards_done"


def job_cancel(job_id: str) -> str:
    """Flag: cancellation requested; workers poll it between batches."""
    return f"{PREFIX}:job:{job_id}:cancel"


def team_jobs(team: str) -> str:
    """Sorted set of a team's job ids scored by creation time (listing, paging)."""
    return f"{PREFIX}:team:{team}:jobs"


def dataset(dataset_id: str) -> str:
    """Hash: dataset metadata (JSON document + owning team)."""
    return f"{PREFIX}:dataset:{dataset_id}"


def job_readers(job_id: str) -> str:
    """Set of job ids whose params name this job (it is not removed while one of them is active)."""
    return f"{PREFIX}:job:{job_id}:readers"


def dataset_jobs(dataset_id: str) -> str:
    """Set of job ids that read this dataset (DELETE answers 409 while one of them is active)."""
    return f"{PREFIX}:dataset:{dataset_id}:jobs"


def team_datasets(team: str) -> str:
    """Sorted set of a team's dataset ids scored by creation time."""
    return f"{PREFIX}:team:{team}:datasets"


def job_shard_stats(job_id: str) -> str:
    """Hash shard index -> JSON stats of its finished output (rows out, replacements), summed at merge."""
    return f"{PREFIX}:job:{job_id}:shard_stats"


def job_metrics(job_id: str) -> str:
    """List of JSON training points (step, stage, losses, samples/s, dev metrics), oldest first, for plots."""
    return f"{PREFIX}:job:{job_id}:metrics"


def stream_token(digest: str) -> str:
    """String (with a TTL): the team of a stream token, keyed by the token's SHA-256 (tokens are not stored)."""
    return f"{PREFIX}:stream_token:{digest}"


# --- quotas and retention -------------------------------------------------------------------------------


def team_active(team: str) -> str:
    """Set of the team's counted (top-level) jobs that may still be queued or running; pruned on admission."""
    return f"{PREFIX}:team:{team}:active"


def team_usage(team: str) -> str:
    """Hash of the team's counters: ``stored_bytes`` (datasets + job results) and ``rows_out`` (augmentations)."""
    return f"{PREFIX}:team:{team}:usage"


def jobs_finished() -> str:
    """Sorted set of finished job ids scored by their finish time (the retention sweep reads the oldest)."""
    return f"{PREFIX}:jobs:finished"


# --- fair scheduling --------------------------------------------------------------------------------------


def job_feed(job_id: str) -> str:
    """Hash ``next``/``total``: the next shard index to queue of an augmentation fed a few shards at a time;
    ``handoff:<k>``: the index shard k's finish took (-1: none left), so a retried shard hands off the same one."""
    return f"{PREFIX}:job:{job_id}:feed"

"""Fair scheduling of augmentation shards: each job keeps only a window of shards on the `augment` queue.

RQ's queue is FIFO, so a job that queued all its 500 shards at once held back a 1-shard job of another team
submitted a second later for the whole of its run. Here a job queues only ``window`` shards at first (at
least as many as there are augment workers, so a lone job still uses every worker); each shard that finishes
queues the job's next one at the tail. Shards of all running jobs therefore take turns on the queue, and a
new job's first shards wait behind at most one window per running job. The shard that finishes last queues
the merge (FIFO mode queues it up front with ``depends_on``). ``DISTILLERY_FAIR_SCHEDULING=false`` restores
the FIFO behaviour, which ``bench/reliability/fair_scheduling.py`` compares against.

The hand-off survives a retry of the finishing shard (its worker was killed, or queueing raised, midway): the
index a shard took is kept per finishing shard and handed to its retry again, and shards and the merge are
queued under their deterministic RQ ids only if absent, so nothing is skipped and nothing runs twice.

This module keeps the feed's state in Redis; ``workers.augment.jobs`` queues the shards. Nothing here
imports torch.
"""

from __future__ import annotations

import redis
from rq import Queue, Worker

from shared import redis_keys as keys
from shared.job_types import QueueName
from shared.settings import Settings

# Hand finishing shard ARGV[1] the next shard index of a fed job, once. KEYS[1] feed hash. The answer is kept in
# the hash as ``handoff:<shard>``, so a retry of that shard (its worker died, or queueing the index raised, after
# the index was taken) gets the same index back instead of skipping it. Returns the index, or -1 (not fed, or
# none left).
_HANDOFF = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local field = 'handoff:' .. ARGV[1]
local taken = redis.call('HGET', KEYS[1], field)
if taken then return tonumber(taken) end
local index = redis.call('HINCRBY', KEYS[1], 'next', 1) - 1
if index >= tonumber(redis.call('HGET', KEYS[1], 'total')) then index = -1 end
redis.call('HSET', KEYS[1], field, index)
return index
"""


def window_size(connection: redis.Redis, settings: Settings) -> int:
    """Shards of one job queued or running at once: the setting, or the augment worker count if larger."""
    workers = Worker.count(queue=Queue(QueueName.AUGMENT, connection=connection))
    return max(1, settings.fair_shard_window, workers)


def open_feed(connection: redis.Redis, job_id: str, total: int, window: int) -> int:
    """Record a fed job; returns how many of its first shards to queue now."""
    first = min(window, total)
    connection.hset(keys.job_feed(job_id), mapping={"next": first, "total": total})
    return first


def next_shard(connection: redis.Redis, job_id: str, finished: int) -> int | None:
    """The shard to queue after shard ``finished`` of a fed job; None when the job is not fed or all its
    shards are queued. Atomic (two finishing shards never take the same index) and idempotent per finishing
    shard (its retry gets the same index, so a hand-off cut short never skips a shard)."""
    index = int(connection.eval(_HANDOFF, 1, keys.job_feed(job_id), finished))
    return None if index < 0 else index


def is_fed(connection: redis.Redis, job_id: str) -> bool:
    return bool(connection.exists(keys.job_feed(job_id)))

"""Fair scheduling of augmentation shards: each job keeps only a window of shards on the `augment` queue.

RQ's queue is FIFO, so a job that queued all its 500 shards at once held back a 1-shard job of another team
submitted a second later for the whole of its run. Here a job queues only ``window`` shards at first (at
least as many as there are augment workers, so a lone job still uses every worker); each shard that finishes
queues the job's next one at the tail. Shards of all running jobs therefore take turns on the queue, and a
new job's first shards wait behind at most one window per running job. The shard that finishes last queues
the merge (FIFO mode queues it up front with ``depends_on``). ``DISTILLERY_FAIR_SCHEDULING=false`` restores
the FIFO behaviour, which ``bench/reliability/fair_scheduling.py`` compares against.

This module keeps the feed's state in Redis; ``workers.augment.jobs`` queues the shards. Nothing here
imports torch.
"""

from __future__ import annotations

import redis
from rq import Queue, Worker

from shared import redis_keys as keys
from shared.job_types import QueueName
from shared.settings import Settings

# Take the next shard index of a fed job. KEYS[1] feed hash. Returns the index, or -1 (not fed, or none left).
_NEXT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
local index = redis.call('HINCRBY', KEYS[1], 'next', 1) - 1
if index < tonumber(redis.call('HGET', KEYS[1], 'total')) then return index end
return -1
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


def next_shard(connection: redis.Redis, job_id: str) -> int | None:
    """The next shard to queue of a fed job (atomic: two finishing shards never take the same); None when
    the job is not fed or all its shards are queued."""
    index = int(connection.eval(_NEXT, 1, keys.job_feed(job_id)))
    return None if index < 0 else index


def is_fed(connection: redis.Redis, job_id: str) -> bool:
    return bool(connection.exists(keys.job_feed(job_id)))


def claim_merge(connection: redis.Redis, job_id: str) -> bool:
    """True for the one caller that should queue the merge of a fed job."""
    return bool(connection.set(keys.job_merge_claim(job_id), 1, nx=True))

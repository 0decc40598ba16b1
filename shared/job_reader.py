"""The job status poll without a thread: ``GET /v1/jobs/{id}`` reads Redis through redis.asyncio.

A poll is the API's most frequent request. Through the sync JobStore it costs a hop into the threadpool
(whose 40 threads queue up under hundreds of pollers) around one Redis round trip; here the round trip is
awaited on the event loop. It reads and shapes exactly what ``JobStore.get`` does (``JobStore.parse`` and
``JobStore.to_public``), so both always answer the same.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aioredis

from shared import redis_keys as keys
from shared.job_store import JobStore


class AsyncJobReader:
    """Reads public job objects over an asyncio Redis client."""

    def __init__(self, connection: aioredis.Redis) -> None:
        self.r = connection

    async def get(self, job_id: str, team: str | None = None) -> dict[str, Any] | None:
        """The public job object; None when absent or another team's (like ``JobStore.get``)."""
        async with self.r.pipeline(transaction=False) as pipe:  # one round trip
            pipe.hgetall(keys.job(job_id))
            pipe.scard(keys.job_shards_done(job_id))
            data, shards_done = await pipe.execute()
        rec = JobStore.parse(data, shards_done)
        if rec is None or (team is not None and rec["team"] != team):
            return None
        return JobStore.to_public(rec)

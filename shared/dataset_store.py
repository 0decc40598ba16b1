"""Dataset metadata in Redis (owner, columns, spec), beside the file kept by ``shared.storage``.

The file on disk is the artifact; this registry answers listing, ownership and "is it in use" quickly.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import redis

from shared import redis_keys as keys
from shared.job_store import ACTIVE_READERS_LUA, iso, new_id
from shared.redis_conn import as_text
from shared.schemas import ACTIVE_STATUSES

# Register a dataset if the team's stored bytes stay within its limit. KEYS[1] dataset hash, KEYS[2] team
# datasets zset, KEYS[3] team usage hash; ARGV team, doc JSON, created_at, id, size, limit (-1: none).
# Returns -1 when added, else the bytes the team already stores.
_ADD = """
local used = tonumber(redis.call('HGET', KEYS[3], 'stored_bytes') or '0')
local size, limit = tonumber(ARGV[5]), tonumber(ARGV[6])
if limit >= 0 and used + size > limit then return used end
redis.call('HSET', KEYS[1], 'team', ARGV[1], 'doc', ARGV[2], 'size', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[4])
redis.call('HINCRBY', KEYS[3], 'stored_bytes', size)
return -1
"""

# Remove a dataset and give its bytes back, once, unless a queued or running job reads it: the readers are
# checked in the same script, so a job registered as a reader (JobStore.create) either stops the delete or,
# registered after it, finds the dataset gone. KEYS as for _ADD, then KEYS[4] the dataset's jobs set; ARGV[1]
# the dataset id, ARGV[2] the job key prefix, ARGV[3...] the active statuses. Returns the active readers' ids
# (nothing deleted), or an empty list once deleted.
_DELETE = (
    ACTIVE_READERS_LUA
    + """
local active = {}
for i = 3, #ARGV do active[ARGV[i]] = true end
local readers = active_readers(KEYS[4], ARGV[2], active, {})
if #readers > 0 then return readers end
local size = tonumber(redis.call('HGET', KEYS[1], 'size') or '0')
if redis.call('DEL', KEYS[1]) == 1 and size ~= 0 then redis.call('HINCRBY', KEYS[3], 'stored_bytes', -size) end
redis.call('ZREM', KEYS[2], ARGV[1])
return {}
"""
)


class DatasetInUse(Exception):
    """Queued or running jobs read the dataset, so it was not deleted."""

    def __init__(self, dataset_id: str, job_ids: list[str]) -> None:
        super().__init__(f"dataset {dataset_id!r} is used by active jobs {sorted(job_ids)}; cancel them first")
        self.job_ids = sorted(job_ids)


class StorageLimitReached(Exception):
    """Storing the dataset would take the team past its stored-bytes limit; nothing was registered."""

    def __init__(self, used: int, size: int, limit: int) -> None:
        super().__init__(f"{used} + {size} bytes > {limit}")
        self.used, self.size, self.limit = used, size, limit


class DatasetStore:
    def __init__(self, connection: redis.Redis) -> None:
        self.r = connection
        self._add = connection.register_script(_ADD)
        self._delete = connection.register_script(_DELETE)

    @staticmethod
    def new_id() -> str:
        return new_id("ds")

    def add(self, team: str, doc: Mapping[str, Any], *, max_stored_bytes: int | None = None) -> dict[str, Any]:
        """Register a dataset document (must hold ``id``); stamps ``created_at``; returns the document.

        Its ``size_bytes`` count towards the team's stored bytes; with ``max_stored_bytes`` the check and
        the count are one Lua script (StorageLimitReached when the team would pass it)."""
        now = time.time()
        doc = {**doc, "created_at": iso(now)}
        size = int(doc.get("size_bytes") or 0)
        limit = -1 if max_stored_bytes is None else max_stored_bytes
        used = int(
            self._add(
                keys=[keys.dataset(doc["id"]), keys.team_datasets(team), keys.team_usage(team)],
                args=[team, json.dumps(doc), repr(now), doc["id"], size, limit],
            )
        )
        if used >= 0:
            raise StorageLimitReached(used, size, limit)
        return doc

    def get(self, dataset_id: str, team: str | None = None) -> dict[str, Any] | None:
        """The document; None when absent or owned by another team."""
        owner, doc = self.r.hmget(keys.dataset(dataset_id), "team", "doc")
        if doc is None or (team is not None and (owner is None or as_text(owner) != team)):
            return None
        document: dict[str, Any] = json.loads(doc)
        return document

    def list(self, team: str, *, offset: int = 0, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        total = int(self.r.zcard(keys.team_datasets(team)))
        ids = [as_text(i) for i in self.r.zrevrange(keys.team_datasets(team), offset, offset + limit - 1)]
        return [d for i in ids if (d := self.get(i)) is not None], total

    def count(self, team: str) -> int:
        return int(self.r.zcard(keys.team_datasets(team)))

    def delete(self, dataset_id: str, team: str) -> None:
        """Unregister the dataset; its bytes stop counting for the team (once, however often it is called).
        DatasetInUse, and nothing deleted, while a queued or running job reads it."""
        active = self._delete(
            keys=[
                keys.dataset(dataset_id),
                keys.team_datasets(team),
                keys.team_usage(team),
                keys.dataset_jobs(dataset_id),
            ],
            args=[dataset_id, keys.job(""), *sorted(ACTIVE_STATUSES)],
        )
        if active:
            raise DatasetInUse(dataset_id, [as_text(i) for i in active])

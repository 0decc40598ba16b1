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
from shared.job_store import iso, new_id
from shared.redis_conn import as_text


class DatasetStore:
    def __init__(self, connection: redis.Redis) -> None:
        self.r = connection

    @staticmethod
    def new_id() -> str:
        return new_id("ds")

    def add(self, team: str, doc: Mapping[str, Any]) -> dict[str, Any]:
        """Register a dataset document (must hold ``id``); stamps ``created_at``; returns the document."""
        now = time.time()
        doc = {**doc, "created_at": iso(now)}
        with self.r.pipeline() as pipe:
            pipe.hset(keys.dataset(doc["id"]), mapping={"team": team, "doc": json.dumps(doc)})
            pipe.zadd(keys.team_datasets(team), {doc["id"]: now})
            pipe.execute()
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

    def delete(self, dataset_id: str, team: str) -> None:
        with self.r.pipeline() as pipe:
            pipe.delete(keys.dataset(dataset_id))
            pipe.zrem(keys.team_datasets(team), dataset_id)
            pipe.execute()

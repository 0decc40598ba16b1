"""Short-lived, team-scoped tokens for job streams.

A browser's EventSource cannot send an Authorization header, so the dashboard trades its API key (sent as a
header) for one of these and puts the token, never the key, in the stream's URL. Redis keeps only the
token's SHA-256 with the team, and expires it after ``ttl_s``; a stream already open outlives its token.
"""

from __future__ import annotations

import hashlib
import secrets
import time

import redis

from shared import redis_keys as keys
from shared.redis_conn import as_text


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class StreamTokens:
    """Issue and resolve stream tokens in Redis."""

    def __init__(self, connection: redis.Redis) -> None:
        self.r = connection

    def issue(self, team: str, ttl_s: int) -> tuple[str, float]:
        """A new token for ``team``; returns (token, expiry as epoch seconds)."""
        token = secrets.token_urlsafe(24)
        self.r.set(keys.stream_token(_digest(token)), team, ex=ttl_s)
        return token, time.time() + ttl_s

    def team_for(self, token: str) -> str | None:
        """The team the token was issued to; None when unknown or expired."""
        if not token or len(token) > 256:
            return None
        team = self.r.get(keys.stream_token(_digest(token)))
        return as_text(team) if team else None

"""Live job updates as Server-Sent Events, and the short-lived tokens browsers open them with.

``GET /v1/jobs/{id}/stream`` sends the job whenever it changes, its new events and its new metric points,
then ``end`` once the job is over. It takes the API key as a Bearer header (the CLI client) or, since a
browser's EventSource cannot set headers, ``?token=`` from ``POST /v1/stream-tokens`` (the dashboard): the
key itself never goes into a URL. The generator is async and reads Redis in short threadpool calls, so an
open stream holds no thread; FastAPI adds a keep-alive comment when nothing was sent for 15 s.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.sse import EventSourceResponse, ServerSentEvent
from starlette.concurrency import run_in_threadpool

from services.api.contract import REDIS, WRITES, error
from services.api.deps import MAX_INDEX, JobStoreDep, RedisDep, SettingsDep, TeamDep, team_from_request
from services.api.job_feed import FeedCursor
from shared.job_store import iso
from shared.schemas import StreamToken
from shared.stream_tokens import StreamTokens

router = APIRouter(tags=["streams"])


#: One event of the job stream (OpenAPI 3.2's itemSchema of text/event-stream): ``data`` is JSON text.
_SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {"type": "string", "enum": ["job", "events", "metrics", "end"]},
        "data": {"type": "string", "description": "a JSON document"},
        "id": {"type": "string", "description": "the cursors '<after_event>.<after_metric>'"},
        "retry": {"type": "integer"},
    },
}
_401 = error(401, "no key or token, or an unknown or expired one")
_404 = error(404, "no such job for this team")


@router.post(
    "/v1/stream-tokens",
    status_code=status.HTTP_201_CREATED,
    response_model=StreamToken,
    responses={**_401, **REDIS, **WRITES},
)
def create_stream_token(team: TeamDep, settings: SettingsDep, conn: RedisDep) -> dict[str, Any]:
    """A token that opens this team's job streams for ``expires_in_s`` seconds (pass it as ``?token=``)."""
    ttl = settings.stream_token_ttl_s
    token, expires = StreamTokens(conn).issue(team, ttl)
    return {"token": token, "team": team, "expires_in_s": ttl, "expires_at": iso(expires)}


def stream_team(
    request: Request,
    conn: RedisDep,
    token: str | None = Query(None, description="A token from POST /v1/stream-tokens (instead of the header)"),
) -> str:
    """The team of ``?token=`` when given, else of the Bearer header; 401 with the reason otherwise."""
    if token is None:
        return team_from_request(request)
    team = StreamTokens(conn).team_for(token)
    if team is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "unknown or expired stream token; get a new one from POST /v1/stream-tokens",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return team


def owned_job(job_id: str, team: Annotated[str, Depends(stream_team)], jobs: JobStoreDep) -> str:
    """404 before the stream starts when the job is not this team's."""
    if jobs.get(job_id, team) is None:
        raise HTTPException(404, f"job {job_id!r} not found")
    return team


def _event(name: str, data: Any, cursor: FeedCursor) -> ServerSentEvent:
    return ServerSentEvent(event=name, raw_data=json.dumps(data), id=f"{cursor.after_event}.{cursor.metric_index}")


@router.get(
    "/v1/jobs/{job_id}/stream",
    response_class=EventSourceResponse,
    responses={
        200: {
            "description": "events `job` (the job object, when it changes), `events` ({items, last_seq}), "
            "`metrics` ({start, points}) and, once the job is over, `end` ({status}); then the stream closes",
            "content": {"text/event-stream": {"itemSchema": _SSE_EVENT}},
        },
        **_401,
        **_404,
        **REDIS,
    },
)
async def stream_job(
    job_id: str,
    team: Annotated[str, Depends(owned_job)],
    jobs: JobStoreDep,
    settings: SettingsDep,
    after_event: int = Query(
        0, ge=0, le=MAX_INDEX, description="Send only events with seq > after_event (on reconnect)"
    ),
    after_metric: int = Query(
        0,
        ge=0,
        le=MAX_INDEX,
        description="On reconnect, the metric cursor from the last event id: below 10**12 the number of points already received; from 10**12 on (once the stored series reached its cap and is trimmed) the time in ms of the last point received",
    ),
) -> AsyncIterator[ServerSentEvent]:
    """The job's changes, live: status and progress, events, metric points; ends when the job is over."""
    cursor = FeedCursor(after_event=after_event, metric_index=after_metric)
    deadline = time.monotonic() + settings.stream_max_s
    sent_job: dict[str, Any] | None = None
    settled = 0  # ticks that found the job over with nothing left to send
    yield ServerSentEvent(retry=2000, comment="distillery job stream")
    while True:
        snap = await run_in_threadpool(cursor.read, jobs, job_id, team, settings.metrics_max)
        if snap.job is None:
            yield _event("end", {"status": "gone"}, cursor)
            return
        if snap.job != sent_job:
            sent_job = snap.job
            yield _event("job", snap.job, cursor)
        if snap.events:
            yield _event("events", {"items": snap.events, "last_seq": cursor.after_event}, cursor)
        if snap.points:
            yield _event("metrics", {"start": snap.points_start, "points": snap.points}, cursor)
        settled = settled + 1 if snap.terminal and snap.drained else 0
        if settled >= 2:  # one more read after the final status: its last event is written just after it
            yield _event("end", {"status": snap.job["status"]}, cursor)
            return
        if time.monotonic() > deadline:
            return  # the client reconnects with its cursors
        await anyio.sleep(settings.stream_poll_s)

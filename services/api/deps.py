"""FastAPI dependencies: settings, Redis, stores and the authenticated team, as ``Annotated`` aliases.

They are ``async def``: none does I/O, and FastAPI runs a plain ``def`` dependency in the threadpool, a
thread hop per dependency per request (what made a status poll queue up under hundreds of pollers).
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import redis
from fastapi import Depends, HTTPException, Query, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.auth import team_for_key
from shared.dataset_store import DatasetStore
from shared.job_reader import AsyncJobReader
from shared.job_store import JobStore
from shared.redis_conn import connect_async
from shared.settings import Settings
from shared.storage import Storage
from workers.orchestration.submit import Submission


async def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_redis(request: Request) -> redis.Redis:
    return request.app.state.redis


async def get_job_store(request: Request) -> JobStore:
    return request.app.state.job_store


async def get_dataset_store(request: Request) -> DatasetStore:
    return request.app.state.dataset_store


async def get_storage(request: Request) -> Storage:
    return request.app.state.storage


#: Declares the Bearer scheme in the OpenAPI document (generated clients send the key); get_team checks it.
bearer = HTTPBearer(auto_error=False, description="The team's API key: 'Authorization: Bearer <key>'")


async def get_team(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None) -> str:
    """The team of the Bearer key; 401 (with a reason) when the key is missing or unknown."""
    return team_from_request(request)


def team_from_request(request: Request) -> str:
    """``get_team`` for callers outside dependency injection."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        reason = "missing Authorization header; send 'Authorization: Bearer <key>'"
    elif scheme.lower() != "bearer" or not token.strip():
        reason = "the Authorization header must be 'Bearer <key>'"
    else:
        team = team_for_key(request.app.state.api_keys, token.strip())
        if team is not None:
            return team
        reason = "unknown API key"
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, reason, headers={"WWW-Authenticate": "Bearer"})


async def get_job_reader(request: Request) -> AsyncJobReader:
    """The asyncio job reader of the running event loop (made on first use in each loop: an asyncio
    client belongs to the loop it connected in, and tests run apps in several)."""
    state = request.app.state
    loop = asyncio.get_running_loop()
    if getattr(state, "job_reader_loop", None) is not loop:
        url = state.settings.redis_url
        s = state.settings
        client = connect_async(
            url, patience_s=s.api_redis_retry_s, max_connections=s.api_redis_connections, wait_s=s.api_redis_wait_s
        )
        state.job_reader = AsyncJobReader(client)
        state.job_reader_loop = loop
    reader: AsyncJobReader = state.job_reader
    return reader


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]
JobStoreDep = Annotated[JobStore, Depends(get_job_store)]
DatasetStoreDep = Annotated[DatasetStore, Depends(get_dataset_store)]
StorageDep = Annotated[Storage, Depends(get_storage)]
TeamDep = Annotated[str, Depends(get_team)]
JobReaderDep = Annotated[AsyncJobReader, Depends(get_job_reader)]


async def get_submission(request: Request, team: TeamDep) -> Submission:
    """What the job orchestration needs to submit for the authenticated team."""
    state = request.app.state
    return Submission(team, state.settings, state.redis, state.dataset_store, state.job_store)


SubmissionDep = Annotated[Submission, Depends(get_submission)]


#: Largest index, offset or cursor a query may carry: the largest integer every JSON client reads exactly,
#: and far inside Redis's 64-bit ranges (a larger one made LRANGE/ZRANGE answer an error, hence a 500).
MAX_INDEX = 2**53 - 1

#: ``?offset=`` of list endpoints.
OffsetQuery = Annotated[int, Query(ge=0, le=MAX_INDEX, description="Items to skip.")]
#: ``?limit=`` of list endpoints; over the server's maximum it is cut to it (the page says which it used).
LimitQuery = Annotated[
    int | None,
    Query(
        ge=1, description="Page size (default DISTILLERY_PAGE_SIZE; larger ones are cut to DISTILLERY_MAX_PAGE_SIZE)."
    ),
]


def page_bounds(settings: SettingsDep, offset: OffsetQuery = 0, limit: LimitQuery = None) -> tuple[int, int]:
    """(offset, limit) of a page: the default size when none is asked, at most the largest allowed."""
    limit = settings.page_size if limit is None else limit
    return offset, min(limit, settings.max_page_size)


#: ``?offset=&limit=`` of list endpoints, as the (offset, limit) of the page to answer.
PageDep = Annotated[tuple[int, int], Depends(page_bounds)]

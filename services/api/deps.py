"""FastAPI dependencies: settings, Redis, stores and the authenticated team, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

import redis
from fastapi import Depends, HTTPException, Query, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from services.api.auth import team_for_key
from shared.dataset_store import DatasetStore
from shared.job_store import JobStore
from shared.settings import Settings
from shared.storage import Storage
from workers.orchestration.submit import Submission


def get_app_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_redis(request: Request) -> redis.Redis:
    return request.app.state.redis


def get_job_store(request: Request) -> JobStore:
    return request.app.state.job_store


def get_dataset_store(request: Request) -> DatasetStore:
    return request.app.state.dataset_store


def get_storage(request: Request) -> Storage:
    return request.app.state.storage


#: Declares the Bearer scheme in the OpenAPI document (generated clients send the key); get_team checks it.
bearer = HTTPBearer(auto_error=False, description="The team's API key: 'Authorization: Bearer <key>'")


def get_team(request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(bearer)] = None) -> str:
    """The team of the Bearer key; 401 (with a reason) when the key is missing or unknown."""
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


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
RedisDep = Annotated[redis.Redis, Depends(get_redis)]
JobStoreDep = Annotated[JobStore, Depends(get_job_store)]
DatasetStoreDep = Annotated[DatasetStore, Depends(get_dataset_store)]
StorageDep = Annotated[Storage, Depends(get_storage)]
TeamDep = Annotated[str, Depends(get_team)]


def get_submission(request: Request, team: TeamDep) -> Submission:
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


def page_bounds(settings: Settings, offset: int, limit: int | None) -> tuple[int, int]:
    """(offset, limit) of a page: the default size when none is asked, at most the largest allowed."""
    limit = settings.page_size if limit is None else limit
    return offset, min(limit, settings.max_page_size)

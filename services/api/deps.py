"""FastAPI dependencies: settings, Redis, stores and the authenticated team, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

import redis
from fastapi import Depends, HTTPException, Request, status

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


def get_team(request: Request) -> str:
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


def page_bounds(settings: Settings, offset: int, limit: int | None) -> tuple[int, int]:
    """Validated (offset, limit); 422 naming the query parameter when out of range."""
    limit = settings.page_size if limit is None else limit
    if offset < 0:
        raise HTTPException(422, "query parameter 'offset' must be >= 0")
    if not 1 <= limit <= settings.max_page_size:
        raise HTTPException(422, f"query parameter 'limit' must be between 1 and {settings.max_page_size}")
    return offset, limit

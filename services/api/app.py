"""The FastAPI application factory: one router per resource, state built once from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.api.auth import parse_api_keys
from services.api.routes import (
    api_docs,
    augmentations,
    dashboard,
    datasets,
    distillations,
    finetunes,
    health,
    jobs,
    models,
    pipelines,
    predictions,
    retention,
    streams,
    usage,
)
from shared.dataset_store import DatasetStore
from shared.job_store import JobStore
from shared.quotas import check_team_limits
from shared.redis_conn import connect
from shared.retention import RetentionSweeper
from shared.settings import Settings, get_settings
from shared.storage import Storage
from workers.orchestration.errors import (
    InvalidRequest,
    NotFound,
    OrchestrationError,
    OverLimit,
    QueueUnavailable,
    TooManyJobs,
)

#: HTTP status of each refusal of the job orchestration (its message names the field or limit at fault).
ORCHESTRATION_STATUS: dict[type[OrchestrationError], int] = {
    NotFound: 404,
    InvalidRequest: 422,
    OverLimit: 422,
    TooManyJobs: 429,
    QueueUnavailable: 503,
}


def create_app(settings: Settings | None = None, connection: redis.Redis | None = None) -> FastAPI:
    """Build the app; ``connection`` defaults to DISTILLERY_REDIS_URL."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sweeper = None
        if settings.job_ttl_days > 0:  # finished jobs' artifacts expire (docs/service.md, "Retention")
            sweeper = RetentionSweeper(
                app.state.job_store, app.state.storage, settings.job_ttl_days, settings.retention_sweep_s
            )
            sweeper.start()
        yield
        if sweeper is not None:
            sweeper.stop()
        app.state.redis.close()

    app = FastAPI(
        title="Distillery",
        version="1",
        summary="TinyBERT data augmentation (and distillation) as HTTP jobs.",
        lifespan=lifespan,
        docs_url=None,  # api_docs serves /docs and /redoc from the package, not a CDN
        redoc_url=None,
    )
    conn = connection or connect(settings=settings)
    check_team_limits(settings)  # a malformed DISTILLERY_TEAM_LIMITS stops the API at start-up
    app.state.settings = settings
    app.state.redis = conn
    app.state.api_keys = parse_api_keys(settings.api_keys)
    app.state.job_store = JobStore(conn, events_max=settings.job_events_max)
    app.state.dataset_store = DatasetStore(conn)
    app.state.storage = Storage(settings.data_dir)

    @app.exception_handler(redis.ConnectionError)
    async def redis_down(request: Request, exc: redis.ConnectionError) -> JSONResponse:
        return JSONResponse({"detail": f"Redis unreachable: {exc}"}, status_code=503)

    @app.exception_handler(OrchestrationError)
    async def refused(request: Request, exc: OrchestrationError) -> JSONResponse:
        status = ORCHESTRATION_STATUS.get(type(exc), 422)
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=getattr(exc, "headers", None))

    for module in (
        health,
        datasets,
        augmentations,
        finetunes,
        distillations,
        pipelines,
        jobs,
        predictions,
        streams,
        models,
        usage,
        retention,
    ):
        app.include_router(module.router)
    api_docs.register(app)
    dashboard.register(app)
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory target: ``uvicorn --factory services.api.app:app_from_env``."""
    return create_app()

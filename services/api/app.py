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
    general_distillations,
    health,
    jobs,
    pipelines,
    streams,
)
from shared.dataset_store import DatasetStore
from shared.job_store import JobStore
from shared.redis_conn import connect
from shared.settings import Settings, get_settings
from shared.storage import Storage
from workers.orchestration.errors import InvalidRequest, NotFound, OrchestrationError, QueueUnavailable

#: HTTP status of each refusal of the job orchestration (its message names the field at fault).
ORCHESTRATION_STATUS: dict[type[OrchestrationError], int] = {NotFound: 404, InvalidRequest: 422, QueueUnavailable: 503}


def create_app(settings: Settings | None = None, connection: redis.Redis | None = None) -> FastAPI:
    """Build the app; ``connection`` defaults to DISTILLERY_REDIS_URL."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
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
        return JSONResponse({"detail": str(exc)}, status_code=ORCHESTRATION_STATUS.get(type(exc), 422))

    for module in (
        health,
        datasets,
        augmentations,
        finetunes,
        distillations,
        general_distillations,
        pipelines,
        jobs,
        streams,
    ):
        app.include_router(module.router)
    api_docs.register(app)
    dashboard.register(app)
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory target: ``uvicorn --factory services.api.app:app_from_env``."""
    return create_app()

"""The FastAPI application factory: one router per resource, state built once from settings."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from services.api import contract
from services.api.auth import parse_api_keys
from services.api.contract import loc_from_message, validation_item
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
from shared.storage import DISK_FULL, Storage, is_disk_full
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
#: Redis errors that mean "unreachable for now" (down, restarting, loading its data, too slow): 503, never 500.
#: BusyLoadingError (a restarted Redis replaying its append-only file) is a ConnectionError.
REDIS_DOWN_ERRORS: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
#: Seconds a client is told to wait before retrying while Redis is unreachable.
REDIS_RETRY_AFTER_S = 2


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    """The retention sweeper while the app serves; the Redis connections closed after."""
    settings: Settings = app.state.settings
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
    if getattr(app.state, "job_reader_loop", None) is asyncio.get_running_loop():  # see deps.get_job_reader
        await app.state.job_reader.r.aclose()


def _register_error_handlers(app: FastAPI) -> None:
    """Redis down: 503 with Retry-After; a full disk: 507; an orchestration refusal: its status (422 as a list)."""

    async def redis_down(request: Request, exc: Exception) -> JSONResponse:
        """Redis down, restarting or still loading its append-only file: 503, and when to retry."""
        return JSONResponse(
            {"detail": f"Redis unreachable: {exc}"}, status_code=503, headers={"Retry-After": str(REDIS_RETRY_AFTER_S)}
        )

    for redis_error in REDIS_DOWN_ERRORS:
        app.add_exception_handler(redis_error, redis_down)

    @app.exception_handler(redis.ResponseError)
    async def redis_refused(request: Request, exc: redis.ResponseError) -> JSONResponse:
        """Redis refusing writes because it cannot write its append-only file (the disk is full): 507."""
        if "MISCONF" in str(exc):  # also inside a Lua script error
            return JSONResponse({"detail": f"{DISK_FULL} (Redis: {exc})"}, status_code=507)
        raise exc

    @app.exception_handler(OSError)
    async def disk_full(request: Request, exc: OSError) -> JSONResponse:
        if is_disk_full(exc):
            return JSONResponse({"detail": DISK_FULL}, status_code=507)
        raise exc

    @app.exception_handler(OrchestrationError)
    async def refused(request: Request, exc: OrchestrationError) -> JSONResponse:
        status = ORCHESTRATION_STATUS.get(type(exc), 422)
        headers = getattr(exc, "headers", None)  # a 429's Retry-After
        if status == 422:  # FastAPI's shape, ``loc`` from the field the message names
            body = {"detail": [validation_item(loc_from_message(str(exc)), str(exc), "invalid")]}
            return JSONResponse(body, status_code=422, headers=headers)
        return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


#: Route modules, jobs first: a status poll, the most frequent request by far, is matched against fewer routes.
ROUTE_MODULES = (
    jobs,
    health,
    datasets,
    augmentations,
    finetunes,
    distillations,
    general_distillations,
    pipelines,
    predictions,
    streams,
    models,
    usage,
    retention,
)


def create_app(settings: Settings | None = None, connection: redis.Redis | None = None) -> FastAPI:
    """Build the app; ``connection`` defaults to DISTILLERY_REDIS_URL."""
    settings = settings or get_settings()
    app = FastAPI(
        title="Distillery",
        version="1",
        summary="TinyBERT data augmentation (and distillation) as HTTP jobs.",
        lifespan=_lifespan,
        docs_url=None,  # api_docs serves /docs and /redoc from the package, not a CDN
        redoc_url=None,
    )
    conn = connection or connect(settings=settings, patience_s=settings.api_redis_retry_s)
    check_team_limits(settings)  # a malformed DISTILLERY_TEAM_LIMITS stops the API at start-up
    app.state.settings = settings
    app.state.redis = conn
    app.state.api_keys = parse_api_keys(settings.api_keys)
    app.state.job_store = JobStore(conn, events_max=settings.job_events_max)
    app.state.dataset_store = DatasetStore(conn)
    app.state.storage = Storage(settings.data_dir)
    _register_error_handlers(app)
    contract.register(app)
    for module in ROUTE_MODULES:
        app.include_router(module.router)
    api_docs.register(app)
    dashboard.register(app)
    return app


def app_from_env() -> FastAPI:
    """uvicorn factory target: ``uvicorn --factory services.api.app:app_from_env``."""
    return create_app()

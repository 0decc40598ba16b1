"""/healthz (the process is up) and /readyz (Redis answers and an augmentation worker is registered)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from rq import Queue, Worker

from services.api.deps import RedisDep
from shared.job_types import QueueName

router = APIRouter(tags=["health"])

#: Queues whose workers /readyz counts. Ready means a worker on the augment queue: a distill worker alone
#: cannot run augmentations (nor pipelines, which need one); the distill count is reported, not required.
READY_QUEUES = (QueueName.AUGMENT, QueueName.DISTILL)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Redis unreachable or no augmentation worker registered"}})
def readyz(conn: RedisDep) -> JSONResponse:
    try:
        conn.ping()
    except Exception as exc:  # any connection problem means "not ready", with the reason
        return JSONResponse({"status": "unavailable", "redis": False, "detail": f"Redis unreachable: {exc}"}, 503)
    workers = {str(q): Worker.count(queue=Queue(q, connection=conn)) for q in READY_QUEUES}
    ready = workers[QueueName.AUGMENT] > 0
    body = {"status": "ready" if ready else "unavailable", "redis": True, "workers": workers}
    if not ready:
        body["detail"] = "no augmentation worker registered; start one with `distillery worker --queue augment`"
    return JSONResponse(body, 200 if ready else 503)

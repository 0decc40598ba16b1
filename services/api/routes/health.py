"""/healthz (the process is up) and /readyz (Redis answers and a worker is registered)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from rq import Queue, Worker

from services.api.deps import RedisDep

router = APIRouter(tags=["health"])

#: Queues whose workers /readyz reports; at least one worker on any of them makes the service ready.
READY_QUEUES = ("augment", "distill")


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Redis unreachable or no worker registered"}})
def readyz(conn: RedisDep) -> JSONResponse:
    try:
        conn.ping()
    except Exception as exc:  # any connection problem means "not ready", with the reason
        return JSONResponse({"status": "unavailable", "redis": False, "detail": f"Redis unreachable: {exc}"}, 503)
    workers = {q: Worker.count(queue=Queue(q, connection=conn)) for q in READY_QUEUES}
    ready = workers.get("augment", 0) > 0
    body = {"status": "ready" if ready else "unavailable", "redis": True, "workers": workers}
    if not ready:
        body["detail"] = "no augmentation worker registered; start one with `distillery worker --queue augment`"
    return JSONResponse(body, 200 if ready else 503)

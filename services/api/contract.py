"""What the OpenAPI document promises about errors, in one place, so that it tells the truth.

Teams generate clients from ``/openapi.json``; schemathesis (``bench/reliability/fuzz_api.sh`` and
``tests/test_api_contract.py``) checks every answer against it. So:

- every status a route can answer is listed (the ``responses=`` dicts below, merged per router and route);
- every 422 has FastAPI's shape, ``{"detail": [{"loc", "msg", "type", "ctx"?}]}``, also the ones raised by our
  own checks (``unprocessable``), so a client parses one 422 shape only;
- every other error is ``{"detail": "..."}`` (``ErrorBody``);
- a 405 lists in ``Allow`` every method the path has, not only those of the first route that matched it.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from shared.schemas import ErrorBody

#: Statuses with the message every error of that kind means (a route may say more with ``error(...)``).
_MEANING = {
    400: "the body could not be read (not UTF-8, or a malformed multipart message)",
    401: "no API key, a malformed Authorization header, or an unknown key",
    404: "no such resource for this team (another team's ids answer 404 too)",
    409: "the resource is not in a state that allows this",
    413: "the upload is over DISTILLERY_MAX_UPLOAD_MB",
    415: "the body is not multipart/form-data",
    503: "Redis is unreachable (retry with backoff), or the work could not be queued",
    507: "the data directory is full; nothing was stored",
}


def error(status: int, description: str | None = None) -> dict[int | str, dict[str, Any]]:
    """One documented error answer: ``{detail}`` as JSON (inline, so also right on the event-stream route,
    where a ``model`` would be documented under the route's own media type)."""
    content = {"application/json": {"schema": ErrorBody.model_json_schema()}}
    return {status: {"description": description or _MEANING[status], "content": content}}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Several documented error answers with their standard meaning."""
    merged: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        merged.update(error(status))
    return merged


#: Every route that reads Redis can answer 503 while it is down.
REDIS = errors(503)
#: Routes behind the API key (router-level), which all read Redis.
AUTHENTICATED = errors(401, 503)
#: Routes that take a JSON body: FastAPI answers 400 when the bytes are not text.
JSON_BODY = errors(400)
#: Routes that write to Redis: it refuses writes while it cannot write its append-only file (a full disk).
WRITES = error(507, "the data directory is full (Redis cannot write its append-only file); nothing was stored")
#: Routes that submit a job (the body names datasets and jobs that may not exist).
SUBMISSION = {
    **JSON_BODY,
    **WRITES,
    **error(404, "a dataset or job named in the body does not exist for this team"),
}

_FIELD = re.compile(r"^fields? '([^']+)'")


def validation_item(loc: list[str | int], msg: str, kind: str, ctx: dict[str, Any] | None = None) -> dict[str, Any]:
    """One entry of a 422 ``detail`` list, as pydantic writes them."""
    item: dict[str, Any] = {"loc": loc, "msg": msg, "type": kind}
    if ctx:
        item["ctx"] = ctx
    return item


def unprocessable(loc: list[str | int], msg: str, kind: str = "value_error", **ctx: Any) -> HTTPException:
    """A 422 raised by our own checks, shaped like FastAPI's (``loc`` names the field at fault)."""
    return HTTPException(422, [validation_item(loc, msg, kind, ctx or None)])


def loc_from_message(message: str, where: str = "body") -> list[str | int]:
    """``["body", "teacher", "job_id"]`` from a message starting "field 'teacher.job_id': ..." (``[where]`` else)."""
    found = _FIELD.match(message)
    return [where, *found.group(1).split(".")] if found else [where]


def _path_methods(app: FastAPI) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """(path regex, methods) of every documented path, built once per app.

    Read from the OpenAPI document rather than the router: FastAPI nests included routers, and the document
    is what Allow must agree with. No HEAD: the routes do not serve it (a HEAD answers 405)."""
    cached: list[tuple[re.Pattern[str], frozenset[str]]] | None = getattr(app.state, "path_methods", None)
    if cached is None:
        cached = []
        for path, operations in app.openapi()["paths"].items():
            methods = frozenset(m.upper() for m in operations)
            cached.append((compile_path(path)[0], methods))
        app.state.path_methods = cached
    return cached


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the API documents at ``path`` (empty for undocumented paths)."""
    return sorted({m for regex, methods in _path_methods(app) if regex.match(path) for m in methods})


def register(app: FastAPI) -> None:
    """Install the 405 handler that lists every method of the path in ``Allow``."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        methods = allowed_methods(app, request.url.path) if exc.status_code == 405 else []
        if methods:
            headers = {**(exc.headers or {}), "Allow": ", ".join(methods)}
            return JSONResponse({"detail": exc.detail}, status_code=405, headers=headers)
        return await http_exception_handler(request, exc)

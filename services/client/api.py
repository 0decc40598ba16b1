"""``Client``: every call of the API as a typed method, over one httpx connection pool.

Errors from the server come back as ``ApiError`` carrying the status and the server's ``detail`` as it was
sent; a service that cannot be reached, or an answer that is not the API's, is ``ApiError`` with status 0.
Idempotent calls (GET, the job stream) are retried on 502/503/504 for up to ``retry_s``, honouring Retry-After.
``wait`` follows the job's event stream and reconnects (with its cursors) when the connection drops.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from services.client.sse import Message, parse_events
from shared.schemas import TERMINAL_STATUSES, Dataset, Job, Page, StreamToken

__all__ = ["TERMINAL_STATUSES", "ApiError", "Client"]

M = TypeVar("M", bound=BaseModel)

#: Statuses that mean "the service is briefly unavailable": idempotent calls retry them.
RETRY_STATUSES = frozenset({502, 503, 504})
#: Default total time (s) an idempotent call keeps retrying those statuses.
DEFAULT_RETRY_S = 30.0
#: Default time (s) ``wait`` keeps reconnecting to a job stream it had, before giving up.
DEFAULT_RECONNECT_S = 300.0
#: First and largest pause (s) between retries (doubling), when the server sends no Retry-After.
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 5.0
#: Characters of an unexpected answer shown in an error.
SHOWN_CHARS = 200


class ApiError(Exception):
    """A 4xx/5xx answer (``status``, the server's ``detail``), or status 0: the service is unreachable."""

    def __init__(self, status: int, detail: Any, *, retry_after: float | None = None) -> None:
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(self.message)

    @property
    def message(self) -> str:
        detail = self.detail
        if isinstance(detail, dict):  # a bad file: {message, file, line, row, column, detail}
            detail = detail.get("detail") or detail.get("message") or str(detail)
        elif isinstance(detail, list):  # FastAPI's validation errors
            detail = "; ".join(
                f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" if isinstance(d, dict) else str(d)
                for d in detail
            )
        elif not isinstance(detail, str):
            detail = str(detail)
        if self.retry_after is not None:
            detail = f"{detail} (retry after {self.retry_after:g} s)"
        return f"{self.status}: {detail}" if self.status else detail


def _retry_after(response: httpx.Response) -> float | None:
    """The Retry-After header in seconds (the delay form; an HTTP date is ignored)."""
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
    else:  # not the API's error body (a proxy's page, a list, ...): its text, shortened
        detail = response.text[:SHOWN_CHARS] or response.reason_phrase
    raise ApiError(response.status_code, detail, retry_after=_retry_after(response))


def _safe_name(name: str) -> str:
    """The base name of a server-sent file name; refuses one that names no file."""
    base = Path(name.replace("\\", "/")).name
    if base in ("", ".", ".."):
        raise ValueError(f"unsafe file name {name!r}")
    return base


class _Retry:
    """The pauses of one retried call: doubling backoff or Retry-After, within ``budget_s`` in all."""

    def __init__(self, budget_s: float) -> None:
        self.deadline = time.monotonic() + budget_s
        self.pause = BACKOFF_FIRST_S

    def wait(self, retry_after: float | None) -> bool:
        """Sleep before the next try and say True, or say False when the budget would be exceeded."""
        delay = self.pause if retry_after is None else retry_after
        if time.monotonic() + delay > self.deadline:
            return False
        time.sleep(delay)
        self.pause = min(self.pause * 2, BACKOFF_MAX_S)
        return True


class Client:
    """The Distillery API at ``url`` with the team key ``key``."""

    def __init__(self, url: str, key: str, *, timeout: float = 60.0, retry_s: float = DEFAULT_RETRY_S) -> None:
        self.url = url.rstrip("/")
        self.retry_s = retry_s
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _unexpected(self, what: object) -> ApiError:
        return ApiError(0, f"unexpected answer from {self.url}: {' '.join(str(what).split())[:SHOWN_CHARS]}")

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        retry = _Retry(self.retry_s if method == "GET" else 0.0)
        while True:
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                raise ApiError(0, f"cannot reach {self.url}: {exc}") from None
            if response.status_code not in RETRY_STATUSES or not retry.wait(_retry_after(response)):
                break
        _raise_for(response)
        try:
            return response.json() if response.content else None
        except ValueError:
            raise self._unexpected(f"{response.headers.get('content-type')}: {response.text}") from None

    def _model(self, model: type[M], doc: Any) -> M:
        try:
            return model.model_validate(doc)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"])) or "the body"
            raise self._unexpected(f"not a {model.__name__}: {where}: {first['msg']}") from None

    # --- datasets ---------------------------------------------------------------------------------------

    def upload(
        self,
        path: str | os.PathLike[str],
        *,
        task: str | None = None,
        text_columns: list[str] | None = None,
        label_column: str | None = None,
        name: str | None = None,
    ) -> Dataset:
        fields = {
            "task": task,
            "text_columns": ",".join(text_columns or []),
            "label_column": label_column,
            "name": name,
        }
        with open(path, "rb") as handle:
            files = {"file": (Path(path).name, handle)}
            doc = self._call("POST", "/v1/datasets", files=files, data={k: v for k, v in fields.items() if v})
        return self._model(Dataset, doc)

    def datasets(self, *, offset: int = 0, limit: int = 50) -> Page[Dataset]:
        return self._model(Page[Dataset], self._call("GET", "/v1/datasets", params={"offset": offset, "limit": limit}))

    # --- jobs -------------------------------------------------------------------------------------------

    def augment(self, dataset_id: str, **params: Any) -> Job:
        """POST /v1/augmentations; ``params`` are its fields (n, k, p, seed, mlm_model, glove, shard_rows,
        precision)."""
        body = {"dataset_id": dataset_id, **{k: v for k, v in params.items() if v is not None}}
        return self._model(Job, self._call("POST", "/v1/augmentations", json=body))

    def pipeline(self, body: dict[str, Any]) -> Job:
        return self._model(Job, self._call("POST", "/v1/pipelines", json=body))

    def jobs(
        self, *, type: str | None = None, status: str | None = None, offset: int = 0, limit: int = 50
    ) -> Page[Job]:
        params = {"type": type, "status": status, "offset": offset, "limit": limit}
        doc = self._call("GET", "/v1/jobs", params={k: v for k, v in params.items() if v is not None})
        return self._model(Page[Job], doc)

    def job(self, job_id: str) -> Job:
        return self._model(Job, self._call("GET", f"/v1/jobs/{job_id}"))

    def cancel(self, job_id: str) -> Job:
        return self._model(Job, self._call("POST", f"/v1/jobs/{job_id}/cancel"))

    def stream_token(self) -> StreamToken:
        return self._model(StreamToken, self._call("POST", "/v1/stream-tokens"))

    def download(self, job_id: str, dest: str | os.PathLike[str] | None = None) -> Path:
        """Stream the result to ``dest`` (default: the base name the server sends, here) via a temp file and a
        rename. A local write failure is an OSError naming ``dest``."""
        retry = _Retry(self.retry_s)
        try:
            while True:
                with self.http.stream("GET", f"/v1/jobs/{job_id}/result") as response:
                    if response.status_code >= 400:
                        response.read()
                        if response.status_code in RETRY_STATUSES and retry.wait(_retry_after(response)):
                            continue
                        _raise_for(response)
                    return self._save(response, job_id, dest)
        except httpx.TransportError as exc:
            raise ApiError(0, f"cannot reach {self.url}: {exc}") from None

    def _save(self, response: httpx.Response, job_id: str, dest: str | os.PathLike[str] | None) -> Path:
        if dest is not None:
            target = Path(dest)
        else:
            match = re.search(r'filename="?([^";]+)"?', response.headers.get("content-disposition", ""))
            try:
                target = Path(_safe_name(match.group(1)) if match else f"{job_id}-result")
            except ValueError as exc:
                raise self._unexpected(exc) from None
        partial = target.with_name(f".{target.name}.part")
        try:
            with open(partial, "wb") as out:
                for chunk in response.iter_bytes():
                    out.write(chunk)
            os.replace(partial, target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise OSError(exc.errno, f"cannot write {target}: {exc.strerror}") from None
        return target

    # --- following a job --------------------------------------------------------------------------------

    def events(self, job_id: str, *, after_event: int = 0, after_metric: int = 0) -> Iterator[tuple[str, Any]]:
        """The job's stream as (event name, decoded data) until the server closes it."""
        for message in self._stream(job_id, after_event, after_metric):
            yield message.event, message.json()

    def _stream(self, job_id: str, after_event: int, after_metric: int) -> Iterator[Message]:
        """The job's stream as SSE messages (with their ids: the cursors to reconnect with)."""
        params = {"after_event": after_event, "after_metric": after_metric}
        with self.http.stream(
            "GET", f"/v1/jobs/{job_id}/stream", params=params, timeout=httpx.Timeout(60, read=90)
        ) as r:
            if r.status_code >= 400:
                r.read()
                _raise_for(r)
            yield from parse_events(r.iter_lines())

    def wait(
        self,
        job_id: str,
        on_update: Callable[[Job], None] | None = None,
        *,
        max_reconnect_s: float = DEFAULT_RECONNECT_S,
        on_reconnect: Callable[[str], None] | None = None,
    ) -> Job:
        """Follow the job until it is over; ``on_update`` sees every change. A service never reached is
        ApiError(0) at once; after a dropped connection or a 502/503/504 it reconnects (``on_reconnect`` hears
        why, once per outage) and gives up with ApiError(0) after ``max_reconnect_s`` without a stream."""
        after_event = after_metric = 0
        job: Job | None = None
        connected = False
        retry: _Retry | None = None  # while the stream is down
        while True:
            try:
                for message in self._stream(job_id, after_event, after_metric):
                    connected, retry = True, None
                    try:
                        name, data = message.event, message.json()
                        if name == "job":
                            job = Job.model_validate(data)
                            if on_update is not None:
                                on_update(job)
                        elif name == "events":
                            after_event = data["last_seq"]
                        elif name == "metrics":  # the id's cursor: a count, or once the series is full a time
                            after_metric = _metric_cursor(message.id, data["start"] + len(data["points"]))
                    except (ValueError, KeyError, TypeError) as exc:  # ValidationError is a ValueError
                        raise self._unexpected(f"{message.event} event: {exc}") from None
                    if name == "end":
                        return self.job(job_id) if job is None or job.status not in TERMINAL_STATUSES else job
                continue  # the server ends a long stream (stream_max_s): reconnect with the cursors
            except (httpx.TransportError, httpx.StreamError) as exc:
                if not connected:
                    raise ApiError(0, f"cannot reach {self.url}: {exc}") from None
                why, retry_after = f"lost connection to {self.url} ({exc})", None
            except ApiError as exc:
                if exc.status not in RETRY_STATUSES:
                    raise
                connected = True  # the service answered: a connection error after this is an outage, not a typo
                why, retry_after = f"{self.url} answered {exc.message}", exc.retry_after
            if retry is None:
                retry = _Retry(max_reconnect_s)
                if on_reconnect is not None:
                    on_reconnect(f"{why}, retrying for up to {max_reconnect_s:g} s…")
            if not retry.wait(retry_after):
                raise ApiError(0, f"gave up on {self.url} after {max_reconnect_s:g} s: {why}")


def _metric_cursor(event_id: str | None, default: int) -> int:
    """The metric cursor of an SSE id ``<after_event>.<after_metric>``. Not ``start + len(points)``: once the
    series is full that count stops growing, and a reconnect with it would never see a new point."""
    _, _, metric = (event_id or "").partition(".")
    return int(metric) if metric.isdigit() else default

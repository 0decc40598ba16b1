"""``Client``: every call of the API as a typed method, over one httpx connection pool.

Errors from the server come back as ``ApiError`` carrying the status and the server's ``detail`` as it was
sent; a service that cannot be reached is ``ApiError`` with status 0. ``wait`` follows the job's event
stream and reconnects (with its cursors) when the connection drops.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from services.client.sse import Message, parse_events
from shared.schemas import TERMINAL_STATUSES, Dataset, Job, Page, StreamToken

__all__ = ["TERMINAL_STATUSES", "ApiError", "Client"]


class ApiError(Exception):
    """A 4xx/5xx answer (``status``, the server's ``detail``), or status 0: the service is unreachable."""

    def __init__(self, status: int, detail: Any) -> None:
        self.status = status
        self.detail = detail
        super().__init__(self.message)

    @property
    def message(self) -> str:
        detail = self.detail
        if isinstance(detail, dict):  # a bad file: {message, file, line, row, column, detail}
            detail = detail.get("detail") or detail.get("message") or str(detail)
        elif isinstance(detail, list):  # FastAPI's validation errors
            detail = "; ".join(f"{'.'.join(map(str, d.get('loc', [])[1:]))}: {d.get('msg')}" for d in detail)
        elif not isinstance(detail, str):
            detail = str(detail)
        return f"{self.status}: {detail}" if self.status else detail


def _raise_for(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text or response.reason_phrase
    raise ApiError(response.status_code, detail)


class Client:
    """The Distillery API at ``url`` with the team key ``key``."""

    def __init__(self, url: str, key: str, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise ApiError(0, f"cannot reach {self.url}: {exc}") from None
        _raise_for(response)
        return response.json() if response.content else None

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
        return Dataset.model_validate(doc)

    def datasets(self, *, offset: int = 0, limit: int = 50) -> Page[Dataset]:
        return Page[Dataset].model_validate(
            self._call("GET", "/v1/datasets", params={"offset": offset, "limit": limit})
        )

    # --- jobs -------------------------------------------------------------------------------------------

    def augment(self, dataset_id: str, **params: Any) -> Job:
        """POST /v1/augmentations; ``params`` are its fields (n, k, p, seed, mlm_model, glove, shard_rows,
        precision)."""
        body = {"dataset_id": dataset_id, **{k: v for k, v in params.items() if v is not None}}
        return Job.model_validate(self._call("POST", "/v1/augmentations", json=body))

    def pipeline(self, body: dict[str, Any]) -> Job:
        return Job.model_validate(self._call("POST", "/v1/pipelines", json=body))

    def jobs(
        self, *, type: str | None = None, status: str | None = None, offset: int = 0, limit: int = 50
    ) -> Page[Job]:
        params = {"type": type, "status": status, "offset": offset, "limit": limit}
        doc = self._call("GET", "/v1/jobs", params={k: v for k, v in params.items() if v is not None})
        return Page[Job].model_validate(doc)

    def job(self, job_id: str) -> Job:
        return Job.model_validate(self._call("GET", f"/v1/jobs/{job_id}"))

    def cancel(self, job_id: str) -> Job:
        return Job.model_validate(self._call("POST", f"/v1/jobs/{job_id}/cancel"))

    def stream_token(self) -> StreamToken:
        return StreamToken.model_validate(self._call("POST", "/v1/stream-tokens"))

    def download(self, job_id: str, dest: str | os.PathLike[str] | None = None) -> Path:
        """Stream the result to ``dest`` (default: the server's file name, here) via a temp file and a rename."""
        try:
            with self.http.stream("GET", f"/v1/jobs/{job_id}/result") as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for(response)
                match = re.search(r'filename="?([^";]+)"?', response.headers.get("content-disposition", ""))
                target = Path(dest) if dest is not None else Path(match.group(1) if match else f"{job_id}-result")
                partial = target.with_name(f".{target.name}.part")
                with open(partial, "wb") as out:
                    for chunk in response.iter_bytes():
                        out.write(chunk)
                os.replace(partial, target)
                return target
        except httpx.TransportError as exc:
            raise ApiError(0, f"cannot reach {self.url}: {exc}") from None

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
        self, job_id: str, on_update: Callable[[Job], None] | None = None, *, max_reconnect_s: float = 300.0
    ) -> Job:
        """Follow the job until it is over; ``on_update`` sees every change. Reconnects after a dropped
        connection, and gives up with ApiError(0) after ``max_reconnect_s`` without one."""
        after_event = after_metric = 0
        job: Job | None = None
        down_since: float | None = None
        while True:
            try:
                for message in self._stream(job_id, after_event, after_metric):
                    name, data = message.event, message.json()
                    down_since = None
                    if name == "job":
                        job = Job.model_validate(data)
                        if on_update is not None:
                            on_update(job)
                    elif name == "events":
                        after_event = data["last_seq"]
                    elif name == "metrics":  # the id's cursor: a count, or once the series is full a time
                        after_metric = _metric_cursor(message.id, data["start"] + len(data["points"]))
                    elif name == "end":
                        return self.job(job_id) if job is None or job.status not in TERMINAL_STATUSES else job
            except (httpx.TransportError, httpx.StreamError) as exc:
                down_since = down_since or time.monotonic()
                if time.monotonic() - down_since > max_reconnect_s:
                    raise ApiError(0, f"lost {self.url} for {max_reconnect_s:.0f}s: {exc}") from None
                time.sleep(1.0)


def _metric_cursor(event_id: str | None, default: int) -> int:
    """The metric cursor of an SSE id ``<after_event>.<after_metric>``. Not ``start + len(points)``: once the
    series is full that count stops growing, and a reconnect with it would never see a new point."""
    _, _, metric = (event_id or "").partition(".")
    return int(metric) if metric.isdigit() else default

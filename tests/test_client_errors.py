"""`distillery client` against a tiny real HTTP server that answers oddly: retries of 502/503/504 (honouring
Retry-After), a 429's Retry-After shown, `wait` failing fast or reconnecting, unexpected bodies as one line,
a server file name kept in the current folder, and the output checked before anything is uploaded."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from services.cli.main import main as cli_main
from services.client import ApiError, Client

JOB_ID = "job_1"

#: (status, headers, body, complete): ``complete=False`` promises more body than it sends, then closes.
Answer = tuple[int, dict[str, str], bytes, bool]


def job(status: str = "succeeded") -> dict[str, Any]:
    return {
        "id": JOB_ID,
        "type": "augmentation",
        "status": status,
        "created_at": "2024-01-01T00:00:00Z",
        "params": {},
        "progress": {"done": 1, "total": 1},
        "result": {"rows_out": 3},
    }


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None, complete: bool = True) -> Answer:
    if isinstance(body, bytes):
        return status, {"Content-Type": "text/html", **(headers or {})}, body, complete
    data = json.dumps(body).encode() if body is not None else b""
    return status, {"Content-Type": "application/json", **(headers or {})}, data, complete


def sse(*events: tuple[str, Any], complete: bool = True) -> Answer:
    text = "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)
    return 200, {"Content-Type": "text/event-stream"}, text.encode(), complete


class Odd:
    """A real HTTP server on 127.0.0.1: each (method, path) answers its list in turn, the last one repeats."""

    def __init__(self, routes: dict[tuple[str, str], list[Answer]]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def handle_one(self, method: str) -> None:
                path = self.path.split("?")[0]
                server.requests.append((method, path))
                if length := int(self.headers.get("content-length") or 0):
                    self.rfile.read(length)
                answers = server.routes.get((method, path)) or [answer(404, {"detail": "not found"})]
                status, headers, body, complete = answers.pop(0) if len(answers) > 1 else answers[0]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body) if complete else len(body) + 1000))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def do_GET(self) -> None:
                self.handle_one("GET")

            def do_POST(self) -> None:
                self.handle_one("POST")

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


@pytest.fixture
def odd(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    servers: list[Odd] = []

    def start(routes: dict[tuple[str, str], list[Answer]]) -> Odd:
        servers.append(Odd(routes))
        monkeypatch.setenv("DISTILLERY_URL", servers[-1].url)
        monkeypatch.setenv("DISTILLERY_API_KEY", "k")
        return servers[-1]

    yield start
    for server in servers:
        server.close()


STREAM = ("GET", f"/v1/jobs/{JOB_ID}/stream")
STATUS = ("GET", f"/v1/jobs/{JOB_ID}")


# --- 1. retries of 502/503/504, Retry-After ------------------------------------------------------------


def test_get_retries_5xx_and_post_does_not(odd, capsys) -> None:
    busy = answer(503, {"detail": "redis unavailable"}, {"Retry-After": "0"})
    server = odd(
        {STATUS: [busy, answer(502, b"bad gateway"), answer(200, job())], ("POST", "/v1/augmentations"): [busy]}
    )
    assert cli_main(["client", "status", JOB_ID]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "succeeded"
    assert server.requests.count(STATUS) == 3
    with Client(server.url, "k") as api, pytest.raises(ApiError) as err:
        api.augment("ds_1")
    assert err.value.status == 503 and server.requests.count(("POST", "/v1/augmentations")) == 1


def test_retries_stop_within_the_budget(odd) -> None:
    server = odd({STATUS: [answer(503, {"detail": "redis unavailable"}, {"Retry-After": "0.2"})]})
    start = time.monotonic()
    with Client(server.url, "k", retry_s=1.0) as api, pytest.raises(ApiError) as err:
        api.job(JOB_ID)
    assert err.value.status == 503 and time.monotonic() - start < 2
    assert 3 <= server.requests.count(STATUS) <= 7


def test_429_shows_retry_after(odd, capsys) -> None:
    odd(
        {
            ("POST", f"/v1/jobs/{JOB_ID}/cancel"): [
                answer(429, {"detail": "too many active jobs"}, {"Retry-After": "30"})
            ]
        }
    )
    assert cli_main(["client", "cancel", JOB_ID]) == 2
    assert capsys.readouterr().err.strip() == "distillery client: error: 429: too many active jobs (retry after 30 s)"


def test_wait_treats_5xx_as_a_reconnect(odd, capsys) -> None:
    busy = answer(503, {"detail": "redis unavailable"}, {"Retry-After": "0"})
    odd({STREAM: [sse(("job", job("running"))), busy, sse(("job", job()), ("end", {}))]})
    assert cli_main(["client", "wait", JOB_ID]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == f"{JOB_ID} succeeded"
    assert out.err.count("answered 503: redis unavailable") == 1, out.err


# --- 2. wait: fail fast when never connected, one line when a stream drops --------------------------------


def test_wait_fails_fast_when_the_service_is_down(capsys) -> None:
    start = time.monotonic()
    assert cli_main(["client", "wait", JOB_ID, "--url", "http://127.0.0.1:9", "--key", "k"]) == 1
    assert time.monotonic() - start < 10
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("distillery client: error: cannot reach http://127.0.0.1:9")


def test_wait_says_once_that_it_lost_the_stream(odd, capsys) -> None:
    dropped = sse(("job", job("running")), complete=False)
    odd({STREAM: [dropped, answer(503, {"detail": "x"}, {"Retry-After": "0"}), sse(("job", job()), ("end", {}))]})
    assert cli_main(["client", "wait", JOB_ID]) == 0
    err = capsys.readouterr().err
    assert err.count("lost connection") == 1 and err.count("retrying") == 1, err
    assert "Traceback" not in err


# --- 3. unexpected bodies: one line, exit 1 ----------------------------------------------------------------


def test_unexpected_bodies_are_one_line(odd, capsys) -> None:
    server = odd({STATUS: [answer(200, b"<html>\n login</html>")], ("GET", "/v1/jobs"): [answer(200, [1, 2])]})
    assert cli_main(["client", "status", JOB_ID]) == 1
    assert capsys.readouterr().err.strip() == (
        f"distillery client: error: unexpected answer from {server.url}: text/html: <html> login</html>"
    )
    assert cli_main(["client", "jobs"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"distillery client: error: unexpected answer from {server.url}:") and "\n" not in err


def test_an_error_body_that_is_not_the_apis(odd, capsys) -> None:
    odd({STATUS: [answer(400, ["a", "b"])], ("GET", "/v1/jobs"): [answer(500, [{"x": 1}])]})
    assert cli_main(["client", "status", JOB_ID]) == 2  # still the server's refusal, its body shown as it came
    assert capsys.readouterr().err.strip() == 'distillery client: error: 400: ["a", "b"]'
    assert cli_main(["client", "jobs"]) == 1
    assert capsys.readouterr().err.strip() == 'distillery client: error: 500: [{"x": 1}]'


# --- 4. download: only the base name of the server's file name ----------------------------------------------


def test_download_keeps_the_server_file_name_here(odd, tmp_path, monkeypatch, capsys) -> None:
    result = ("GET", f"/v1/jobs/{JOB_ID}/result")
    evil = answer(200, b"data", {"Content-Disposition": 'attachment; filename="../evil.txt"'})
    server = odd({result: [evil, answer(200, b"data", {"Content-Disposition": 'attachment; filename=".."'})]})
    (tmp_path / "here").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    assert cli_main(["client", "download", JOB_ID]) == 0
    assert capsys.readouterr().out.strip() == "evil.txt"
    assert (tmp_path / "here" / "evil.txt").read_bytes() == b"data" and not (tmp_path / "evil.txt").exists()
    assert cli_main(["client", "download", JOB_ID]) == 1
    assert capsys.readouterr().err.strip() == (
        f"distillery client: error: unexpected answer from {server.url}: unsafe file name '..'"
    )


# --- 5. the output is checked before uploading; a local write failure is exit 1 ----------------------------


def augment_routes() -> dict[tuple[str, str], list[Answer]]:
    dataset = {"id": "ds_1", "name": "in.tsv", "rows": 2, "columns": ["sentence", "label"], "format": "tsv"}
    dataset |= {"task": "sst-2", "text_columns": ["sentence"], "label_column": "label", "size_bytes": 20, "sha256": "0"}
    return {
        ("POST", "/v1/datasets"): [answer(201, {**dataset, "created_at": "2024-01-01T00:00:00Z"})],
        ("POST", "/v1/augmentations"): [answer(202, job("queued"))],
        STREAM: [sse(("job", job()), ("end", {}))],
        ("GET", f"/v1/jobs/{JOB_ID}/result"): [answer(200, b"augmented")],
    }


def test_augment_checks_the_output_before_uploading(odd, tmp_path, capsys) -> None:
    source = tmp_path / "in.tsv"
    source.write_text("sentence\tlabel\nok\t1\n")
    (tmp_path / "file").write_text("")
    server = odd(augment_routes())
    blocked = tmp_path / "file" / "x.tsv"
    assert cli_main(["client", "augment", "--task", "sst-2", "--input", str(source), "--output", str(blocked)]) == 1
    assert str(tmp_path / "file") in capsys.readouterr().err and server.requests == []
    made = tmp_path / "new" / "dir" / "x.tsv"  # missing folders are created, as local `augment` does
    assert cli_main(["client", "augment", "--task", "sst-2", "--input", str(source), "--output", str(made)]) == 0
    assert made.read_bytes() == b"augmented"


def test_a_local_write_failure_is_exit_1(odd, tmp_path, capsys) -> None:
    odd(augment_routes())
    (tmp_path / "taken").mkdir()
    assert cli_main(["client", "download", JOB_ID, "--output", str(tmp_path / "taken")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"distillery client: error: cannot write {tmp_path / 'taken'}") and "\n" not in err

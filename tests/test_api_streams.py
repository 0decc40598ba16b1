"""GET /v1/jobs/{id}/stream and POST /v1/stream-tokens on a real Redis: what the stream sends and when it
ends, the token in place of the key, cursors for reconnecting, and open streams holding no thread."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from services.api.job_feed import TIME_CURSOR, FeedCursor
from services.client.api import Client
from services.client.sse import Message, parse_events
from shared import redis_keys as keys
from tests.browser_helpers import ApiServer
from tests.conftest import service_env
from tests.service_helpers import API_KEYS, AUTH_A, AUTH_B, KEY_A, make_client


@pytest.fixture
def client(redis_url: str, tmp_path: Path):
    with make_client(redis_url, tmp_path / "data", stream_poll_s=0.05, stream_token_ttl_s=2) as c:
        yield c


def _job(client, status: str = "queued") -> str:
    jobs = client.app.state.job_store
    job_id = jobs.create(job_type="distillation", team="team-a", params={}, total=4, unit="steps")
    if status != "queued":
        jobs.mark_running(job_id)
    if status == "succeeded":
        jobs.succeed(job_id, {"file": "x"})
    return job_id


def _point(step: int, **losses: float) -> str:
    return json.dumps({"ts": time.time(), "job_id": "j", "stage": "distill-intermediate", "epoch": 1, "step": step,
                       "total_steps": 9, "losses": losses, "samples_per_s": 1.0, "metrics": None})  # fmt: skip


def _messages(client, url: str, **kwargs) -> list[Message]:
    with client.stream("GET", url, **kwargs) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        return list(parse_events(r.iter_lines()))


def _read(client, url: str, **kwargs) -> list[tuple[str, object]]:
    return [(m.event, m.json()) for m in _messages(client, url, **kwargs)]


def test_a_finished_job_streams_job_events_metrics_then_end(client) -> None:
    job_id = _job(client, "succeeded")
    client.app.state.redis.rpush(keys.job_metrics(job_id), _point(1, hidden=0.5), _point(2, hidden=0.25))
    messages = _read(client, f"/v1/jobs/{job_id}/stream", headers=AUTH_A)
    names = [name for name, _ in messages]
    assert names == ["job", "events", "metrics", "end"]
    assert messages[0][1]["status"] == "succeeded"
    assert [e["kind"] for e in messages[1][1]["items"]] == ["created", "started", "succeeded"]
    assert messages[2][1]["start"] == 0 and [p["losses"]["hidden"] for p in messages[2][1]["points"]] == [0.5, 0.25]
    assert messages[3][1] == {"status": "succeeded"}
    # reconnecting with cursors sends only what is newer
    again = _read(client, f"/v1/jobs/{job_id}/stream?after_event=2&after_metric=1", headers=AUTH_A)
    assert [e["seq"] for e in dict(again)["events"]["items"]] == [3]
    assert dict(again)["metrics"]["start"] == 1 and len(dict(again)["metrics"]["points"]) == 1


def test_a_live_job_streams_its_changes_and_ends_when_it_does(client) -> None:
    job_id = _job(client, "running")
    jobs = client.app.state.job_store

    def work() -> None:
        time.sleep(0.4)
        jobs.add_progress(job_id, 2)
        client.app.state.redis.rpush(keys.job_metrics(job_id), _point(2, hidden=0.5))
        time.sleep(0.4)
        jobs.succeed(job_id, {"file": "x"})

    worker = threading.Thread(target=work)
    worker.start()
    started = time.monotonic()
    messages = _read(client, f"/v1/jobs/{job_id}/stream", headers=AUTH_A)
    worker.join()
    assert time.monotonic() - started < 5
    statuses = [data["status"] for name, data in messages if name == "job"]
    assert statuses[0] == "running" and statuses[-1] == "succeeded"
    assert [data["progress"]["done"] for name, data in messages if name == "job"][-1] == 2
    kinds = [e["kind"] for name, data in messages if name == "events" for e in data["items"]]
    assert kinds[-1] == "succeeded"  # the final event arrives before `end`
    assert [name for name, _ in messages if name == "metrics"] == ["metrics"] and messages[-1][0] == "end"


def test_stream_tokens_stand_in_for_the_key_and_expire(client) -> None:
    job_id = _job(client, "succeeded")
    assert client.post("/v1/stream-tokens").status_code == 401
    r = client.post("/v1/stream-tokens", headers=AUTH_A)
    assert r.status_code == 201, r.text
    token = r.json()
    assert token["team"] == "team-a" and token["expires_in_s"] == 2 and token["expires_at"].endswith("Z")
    assert _read(client, f"/v1/jobs/{job_id}/stream?token={token['token']}")[-1] == ("end", {"status": "succeeded"})
    # the token is team-scoped: another team's job is 404, like every id of another team
    other = client.post("/v1/stream-tokens", headers=AUTH_B).json()["token"]
    assert client.get(f"/v1/jobs/{job_id}/stream?token={other}").status_code == 404
    assert client.get(f"/v1/jobs/{job_id}/stream", headers=AUTH_B).status_code == 404
    assert client.get("/v1/jobs/nope/stream", headers=AUTH_A).json() == {"detail": "job 'nope' not found"}
    bad = client.get(f"/v1/jobs/{job_id}/stream?token=made-up")
    assert bad.status_code == 401 and "stream token" in bad.json()["detail"]
    assert client.get(f"/v1/jobs/{job_id}/stream").status_code == 401  # neither key nor token
    time.sleep(2.2)
    assert client.get(f"/v1/jobs/{job_id}/stream?token={token['token']}").status_code == 401
    stored = [k.decode() for k in client.app.state.redis.keys("distillery:stream_token:*")]
    assert all(token["token"] not in k for k in stored)  # Redis holds digests, not tokens


def test_the_cursor_follows_a_trimmed_metrics_series(client) -> None:
    job_id = _job(client, "running")
    conn, jobs = client.app.state.redis, client.app.state.job_store
    conn.rpush(keys.job_metrics(job_id), *[_point(i, hidden=float(i)) for i in range(5)])
    cursor = FeedCursor()
    assert [p["step"] for p in cursor.read(jobs, job_id, "team-a", metrics_max=5).points] == [0, 1, 2, 3, 4]
    time.sleep(0.01)
    for step in (5, 6):  # what JobProgress does at the cap: push, trim from the front
        conn.rpush(keys.job_metrics(job_id), _point(step, hidden=float(step)))
        conn.ltrim(keys.job_metrics(job_id), -5, -1)
    snap = cursor.read(jobs, job_id, "team-a", metrics_max=5)
    assert [p["step"] for p in snap.points] == [5, 6] and snap.points_start == 3
    assert cursor.read(jobs, job_id, "team-a", metrics_max=5).points == []


def _push(conn, job_id: str, step: int, cap: int = 5) -> None:
    """What JobProgress does at the cap: push, trim from the front."""
    time.sleep(0.005)  # points are ms apart, as the real ones are
    conn.rpush(keys.job_metrics(job_id), _point(step, hidden=float(step)))
    conn.ltrim(keys.job_metrics(job_id), -cap, -1)


def test_a_count_cursor_at_the_cap_still_gets_new_points(client) -> None:
    """A reconnect with after_metric=metrics_max (the count a client had when the series was full) used to read
    past the end of the series forever."""
    job_id = _job(client, "running")
    conn, jobs = client.app.state.redis, client.app.state.job_store
    for step in range(5):
        _push(conn, job_id, step)
    cursor = FeedCursor(metric_index=5)
    assert cursor.read(jobs, job_id, "team-a", metrics_max=5).points == []
    _push(conn, job_id, 5)
    snap = cursor.read(jobs, job_id, "team-a", metrics_max=5)
    assert [p["step"] for p in snap.points] == [5] and snap.points_start == 4
    assert cursor.read(jobs, job_id, "team-a", metrics_max=5).points == []


def test_a_cursor_behind_in_a_full_series_catches_up_in_order(client) -> None:
    """More than BATCH points behind while trims shift every index: batches follow on, none lost or sent twice."""
    job_id = _job(client, "running")
    conn, jobs = client.app.state.redis, client.app.state.job_store
    cap, base = 1200, time.time()

    def push(steps: range) -> None:
        docs = [json.dumps({"ts": round(base + i / 1000, 3), "step": i}) for i in steps]
        conn.rpush(keys.job_metrics(job_id), *docs)
        conn.ltrim(keys.job_metrics(job_id), -cap, -1)

    push(range(cap))
    cursor, got = FeedCursor(), []
    got += [p["step"] for p in cursor.read(jobs, job_id, "team-a", metrics_max=cap).points]
    push(range(cap, cap + 300))  # shifts every index by 300
    for _ in range(3):
        got += [p["step"] for p in cursor.read(jobs, job_id, "team-a", metrics_max=cap).points]
    assert got == list(range(cap + 300))
    assert cursor.metric_index == round((base + (cap + 299) / 1000) * 1000)
    resumed = FeedCursor(metric_index=round((base + 899 / 1000) * 1000))  # a reconnect with a time cursor
    snap = resumed.read(jobs, job_id, "team-a", metrics_max=cap)
    assert [p["step"] for p in snap.points] == list(range(900, 1400)) and snap.points_start == 600


def test_a_full_series_resumes_by_the_time_in_the_event_id(redis_url, tmp_path) -> None:
    """Once the series is full, the SSE id carries the last point's time; reconnecting with it sends exactly the
    points newer than that, even after trims moved every index, and more than BATCH of them in order."""
    with make_client(redis_url, tmp_path / "data", stream_poll_s=0.05, stream_max_s=0.3, metrics_max=5) as client:
        job_id = _job(client, "running")
        conn = client.app.state.redis
        for step in range(5):
            _push(conn, job_id, step)
        first = [m for m in _messages(client, f"/v1/jobs/{job_id}/stream", headers=AUTH_A) if m.event == "metrics"]
        assert [p["step"] for m in first for p in m.json()["points"]] == [0, 1, 2, 3, 4]
        cursor = int(first[-1].id.split(".")[1])
        assert cursor >= TIME_CURSOR and cursor == round(first[-1].json()["points"][-1]["ts"] * 1000)
        for step in (5, 6):
            _push(conn, job_id, step)
        again = _messages(client, f"/v1/jobs/{job_id}/stream?after_metric={cursor}", headers=AUTH_A)
        metrics = [m.json() for m in again if m.event == "metrics"]
        assert [(d["start"], [p["step"] for p in d["points"]]) for d in metrics] == [(3, [5, 6])]
        # a client without time cursors reconnects with its count: what it missed while away is gone, but every
        # point from then on arrives
        pusher = threading.Timer(0.1, _push, (conn, job_id, 7))
        pusher.start()
        legacy = _messages(client, f"/v1/jobs/{job_id}/stream?after_metric=5", headers=AUTH_A)
        pusher.join()
        assert [p["step"] for m in legacy if m.event == "metrics" for p in m.json()["points"]] == [7]


def test_client_wait_follows_a_full_series_across_reconnects(redis_url, tmp_path) -> None:
    """Client.wait reconnects (the server ends a stream after stream_max_s) with the id's cursor: every point
    arrives exactly once, also those added after the series is full."""
    cursors: list[int] = []  # after_metric of each connection
    steps: list[int] = []

    class Recording(Client):
        def _stream(self, job_id: str, after_event: int, after_metric: int) -> Iterator[Message]:
            cursors.append(after_metric)
            for message in super()._stream(job_id, after_event, after_metric):
                if message.event == "metrics":
                    steps.extend(p["step"] for p in message.json()["points"])
                yield message

    with make_client(redis_url, tmp_path / "data", stream_poll_s=0.05, stream_max_s=0.3, metrics_max=5) as client:
        job_id = _job(client, "running")
        conn, jobs = client.app.state.redis, client.app.state.job_store
        for step in range(5):
            _push(conn, job_id, step)

        def work() -> None:
            deadline = time.monotonic() + 30  # the first connection has the full series before it is trimmed
            while len(steps) < 5 and time.monotonic() < deadline:
                time.sleep(0.02)
            for step in (5, 6, 7):
                time.sleep(0.45)
                _push(conn, job_id, step)
            time.sleep(0.45)
            jobs.succeed(job_id, {"file": "x"})

        worker = threading.Thread(target=work)
        worker.start()
        client.headers.update(AUTH_A)
        api = Recording(str(client.base_url), KEY_A)
        api.http.close()
        api.http = client
        job = api.wait(job_id, max_reconnect_s=5)
        worker.join()
    assert job.status == "succeeded"
    assert steps == list(range(8))
    assert len(cursors) >= 3 and cursors[0] == 0 and all(c >= TIME_CURSOR for c in cursors[1:])  # by time


@pytest.mark.slow
def test_open_streams_hold_no_thread(redis_url, tmp_path, tiny_mlm_dir) -> None:
    """60 open streams (more than the 40 threads of the pool) and a sync endpoint still answers at once."""
    env = service_env(redis_url, tmp_path / "data", DISTILLERY_API_KEYS=API_KEYS)
    server = ApiServer(env, tmp_path).start()
    try:
        with httpx.Client(base_url=server.url, headers=AUTH_A, timeout=10) as http:
            ds = http.post("/v1/datasets", files={"file": ("a.tsv", b"sentence\tlabel\nhello there\t1\n")},
                           data={"task": "sst-2"}).json()  # fmt: skip
            body = {"dataset_id": ds["id"], "mlm_model": str(tiny_mlm_dir)}
            job_id = http.post("/v1/augmentations", json=body).json()["id"]  # no worker: queued
        limits = httpx.Limits(max_connections=100)
        with httpx.Client(base_url=server.url, headers=AUTH_A, timeout=10, limits=limits) as http:
            streams = [http.stream("GET", f"/v1/jobs/{job_id}/stream") for _ in range(60)]
            opened = [s.__enter__() for s in streams]
            assert all(r.status_code == 200 for r in opened)
            for r in opened:  # each has sent its first event: the generators are running
                assert next(r.iter_lines()).startswith(":")
            started = time.monotonic()
            assert http.post("/v1/stream-tokens").status_code == 201
            assert http.get(f"/v1/jobs/{job_id}").json()["status"] == "queued"
            assert time.monotonic() - started < 2.0
            for s in streams:
                s.__exit__(None, None, None)
    finally:
        server.stop()

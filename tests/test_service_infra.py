"""Storage layout and atomic writes, the embedded Redis, API-key parsing, the worker queue registry."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest
import redis

from services.api.auth import parse_api_keys, team_for_key
from services.cli.worker import QUEUE_ENTRY_MODULES
from shared.redis_conn import EmbeddedRedis, connect, patient_retry
from shared.storage import Storage, atomic_concat


def test_storage_layout(tmp_path: Path) -> None:
    s = Storage(tmp_path)
    assert s.dataset_file("ds_1", "tsv") == tmp_path / "datasets" / "ds_1" / "data.tsv"
    assert s.shard_file("job_1", 3, "csv") == tmp_path / "jobs" / "job_1" / "shards" / "3.csv"
    assert s.result_file("job_1", "jsonl") == tmp_path / "jobs" / "job_1" / "result.jsonl"
    assert s.uploads_dir().is_dir() and s.redis_dir().is_dir()


def test_atomic_concat_orders_parts_and_leaves_no_temp(tmp_path: Path) -> None:
    parts = []
    for i in range(3):
        part = tmp_path / f"{i}.tsv"
        part.write_text(f"row{i}\n")
        parts.append(part)
    target = tmp_path / "out" / "result.tsv"
    assert atomic_concat(target, b"\xef\xbb\xbfhead\n", parts) == len(target.read_bytes())
    assert target.read_bytes() == b"\xef\xbb\xbfhead\nrow0\nrow1\nrow2\n"
    with pytest.raises(FileNotFoundError):
        atomic_concat(target, b"x", [tmp_path / "missing.tsv"])
    assert target.read_bytes().endswith(b"row2\n")  # the old file is untouched by the failed write
    assert [p.name for p in target.parent.iterdir()] == ["result.tsv"]


def test_embedded_redis_persists_and_stops(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "r")
    url = server.start()
    assert url.startswith("unix://")
    conn = redis.Redis.from_url(url)
    conn.set("k", "v")
    pid = server.proc.pid
    server.stop()
    assert server.proc.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    again = EmbeddedRedis(tmp_path / "r")
    try:
        assert redis.Redis.from_url(again.start()).get("k") == b"v"  # append-only file replayed
    finally:
        again.stop()


def test_embedded_redis_killed_restarts_at_the_same_url_with_its_data(tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "r", appendfsync="everysec")
    url = server.start()
    try:
        patient = connect(url, patience_s=10)  # what workers use: rides out the restart below
        patient.set("done", "job_1")
        os.kill(server.proc.pid, 9)  # SIGKILL: no flush, no goodbye
        server.proc.wait()
        assert not server.alive()
        assert server.start() == url  # same URL: every child's DISTILLERY_REDIS_URL stays right
        assert patient.get("done") == b"job_1"  # acknowledged before the kill, so in the append-only file
        assert "everysec" in " ".join(server.proc.args)
    finally:
        server.stop()
    with pytest.raises(ValueError, match="appendfsync"):
        EmbeddedRedis(tmp_path / "x", appendfsync="no")


def test_patient_retry_adds_up_to_its_patience() -> None:
    retry = patient_retry(60)
    waits = [retry._backoff.compute(i) for i in range(1, retry._retries + 1)]
    assert 60 <= sum(waits) < 62 and max(waits) == 1.0


def test_connect_needs_a_url() -> None:
    from shared.settings import Settings

    with pytest.raises(RuntimeError, match="DISTILLERY_REDIS_URL"):
        connect(settings=Settings(redis_url=None))


def test_api_keys() -> None:
    keys = parse_api_keys(" team-a:k1 , team-b:k2,")
    assert keys == {"k1": "team-a", "k2": "team-b"}
    assert team_for_key(keys, "k2") == "team-b" and team_for_key(keys, "k3") is None
    assert parse_api_keys("") == {}
    with pytest.raises(ValueError, match="'nokey'"):
        parse_api_keys("team:k,nokey")


def test_queue_registry() -> None:
    assert set(QUEUE_ENTRY_MODULES) == {"augment", "distill"}
    for module in QUEUE_ENTRY_MODULES.values():
        importlib.import_module(module)  # what a worker imports before it starts

"""`distillery up` under faults: its embedded Redis SIGKILLed mid-job, its API killed mid-job.

(Apart from tests/test_service_up.py, which covers the normal run: these take longer and kill things.)
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from bench.reliability.harness import answers_200, descendants, free_port, launch_up, up_env, up_key
from tests.conftest import TEST_MODEL_ROOTS, kill_process_group, wait_until

pytestmark = pytest.mark.slow

#: 24 short rows: 8 shards of 3.
ROWS = "sentence\tlabel\n" + "".join(f"row {i} is a fine and moving little film .\t{i % 2}\n" for i in range(24))


@dataclass
class Up:
    proc: subprocess.Popen[bytes]
    base: str
    auth: dict[str, str]

    def pids(self, needle: str) -> list[int]:
        return descendants(self.proc.pid, needle)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.base}{path}", headers=self.auth, timeout=10)


@contextmanager
def running_up(tmp_path: Path, workers: int = 1) -> Iterator[Up]:
    port = free_port()
    # the tiny MLM lives under the temp folder
    env = up_env(tmp_path / "data", DISTILLERY_MODEL_ROOTS=TEST_MODEL_ROOTS)
    proc = launch_up(tmp_path / "up.log", env, port, workers)
    base = f"http://127.0.0.1:{port}"
    try:
        key = up_key(tmp_path / "up.log", 30)
        wait_until(lambda: answers_200(f"{base}/readyz"), 120, "/readyz", interval=0.5)
        yield Up(proc, base, {"Authorization": f"Bearer {key}"})
    finally:
        kill_process_group(proc, grace=20)


def submit(up: Up, mlm: Path) -> tuple[str, str]:
    ds = httpx.post(
        f"{up.base}/v1/datasets", headers=up.auth, files={"file": ("r.tsv", ROWS.encode())}, data={"task": "sst-2"}
    )
    assert ds.status_code == 201, ds.text
    body = {"dataset_id": ds.json()["id"], "n": 2, "shard_rows": 3, "mlm_model": str(mlm)}
    job = httpx.post(f"{up.base}/v1/augmentations", headers=up.auth, json=body, timeout=30)
    assert job.status_code == 202, job.text
    return ds.json()["id"], job.json()["id"]


def poll_until_over(up: Up, job_id: str, answers: Counter[str], timeout: float = 240) -> dict:
    """Poll every 100 ms, counting every answer's status, until the job is over."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = up.get(f"/v1/jobs/{job_id}")
            answers[str(r.status_code)] += 1
            if r.status_code == 200 and r.json()["status"] in {"succeeded", "failed", "cancelled"}:
                return r.json()
        except httpx.HTTPError as exc:
            answers[type(exc).__name__] += 1
        time.sleep(0.1)
    pytest.fail(f"job {job_id} not over after {timeout}s; answers {answers}")


def shards_done(up: Up, job_id: str) -> int:
    r = up.get(f"/v1/jobs/{job_id}")
    return r.json()["progress"]["shards_done"] if r.status_code == 200 else -1


def kill_mid_job(up: Up, job_id: str, needle: str, after_shards: int) -> tuple[int, dict, Counter[str]]:
    """SIGKILL the one process under `up` named by ``needle`` once ``after_shards`` shards are done; poll until
    the job is over and check it succeeded. Returns (the killed pid, the final job, the poll answers)."""
    wait_until(lambda: shards_done(up, job_id) >= after_shards, 180, f"{after_shards} shards done", interval=0.1)
    (pid,) = up.pids(needle)
    os.kill(pid, signal.SIGKILL)
    answers: Counter[str] = Counter()
    final = poll_until_over(up, job_id, answers)
    assert final["status"] == "succeeded", final
    return pid, final, answers


def test_redis_sigkilled_mid_job_is_restarted_and_the_job_finishes(tmp_path: Path, tiny_mlm_dir: Path) -> None:
    with running_up(tmp_path) as up:
        dataset_id, job_id = submit(up, tiny_mlm_dir)
        redis_pid, final, answers = kill_mid_job(up, job_id, "redis-server", 2)
        assert set(answers) <= {"200", "503"}, answers  # never a 500
        assert up.proc.poll() is None  # up itself stayed up
        new_redis = up.pids("redis-server")
        assert new_redis and new_redis != [redis_pid]
        result = up.get(f"/v1/jobs/{job_id}/result")
        assert result.status_code == 200
        assert len(result.text.splitlines()) - 1 == final["result"]["rows_out"] >= 24
        assert up.get(f"/v1/datasets/{dataset_id}").status_code == 200  # nothing stored was lost


def test_api_killed_mid_job_is_restarted_and_polls_resume(tmp_path: Path, tiny_mlm_dir: Path) -> None:
    with running_up(tmp_path) as up:
        _, job_id = submit(up, tiny_mlm_dir)
        api_pid, _, answers = kill_mid_job(up, job_id, "uvicorn", 1)
        assert answers["200"] > 0 and not any(s.startswith("5") for s in answers), answers
        assert up.proc.poll() is None and up.pids("uvicorn") not in ([], [api_pid])

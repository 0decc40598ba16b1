"""`distillery up` as a real subprocess: embedded Redis, API, workers; a SIGKILLed worker is restarted on its
own; a job runs; SIGTERM leaves nothing."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx
import psutil
import pytest

from bench.reliability.harness import answers_200, free_port, launch_up, up_env, up_key
from tests.conftest import kill_process_group, wait_until
from tests.service_helpers import SST2_SAMPLE

pytestmark = pytest.mark.slow


def _augment_workers(up_pid: int) -> list[psutil.Process]:
    """The live augment-worker processes `up` started (its direct children)."""
    found = []
    for child in psutil.Process(up_pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE and "augment" in child.cmdline() and "worker" in child.cmdline():
                found.append(child)
        except psutil.NoSuchProcess:
            pass
    return found


def _assert_workers_placed(children: list[psutil.Process], log_path: Path) -> None:
    """`up` told each worker its device and thread budget (cores / 2 augmentation workers)."""
    workers = [c.cmdline() for c in children if "worker" in c.cmdline()]
    budget = str(max(1, (os.cpu_count() or 1) // 2))
    assert sorted(w[w.index("--queue") + 1 : w.index("--queue") + 6] for w in workers) == [
        ["augment", "--device", "cpu", "--threads", budget],
        ["augment", "--device", "cpu", "--threads", budget],
        ["distill", "--device", "cpu", "--threads", str(os.cpu_count() or 1)],
    ]
    assert "Workers: 2 augment on cpu; 1 distill on cpu" in log_path.read_text()


def test_up_runs_a_job_and_stops_every_child(tmp_path: Path, tiny_mlm_dir: Path) -> None:
    port = free_port()
    env = up_env(tmp_path / "data", DISTILLERY_DEVICE="cpu", DISTILLERY_MODEL_ROOTS=str(tiny_mlm_dir.parent))
    log_path = tmp_path / "up.log"
    proc = launch_up(log_path, env, port, 2)
    base = f"http://127.0.0.1:{port}"
    try:
        key = up_key(log_path, 30)
        assert f"http://localhost:{port}" in log_path.read_text()
        children = psutil.Process(proc.pid).children(recursive=True)
        assert any("redis-server" in " ".join(c.cmdline()) for c in children)  # the embedded Redis
        _assert_workers_placed(children, log_path)
        wait_until(lambda: answers_200(f"{base}/readyz"), 90, "/readyz to answer 200", interval=0.5)
        # a worker killed outright is restarted by `up` on its own; the job below then runs on the workers
        victim = wait_until(lambda: len(w := _augment_workers(proc.pid)) == 2 and w[0], 30, "two augment workers")
        os.killpg(victim.pid, signal.SIGKILL)  # type: ignore[union-attr]
        wait_until(lambda: "exited (-9); restarting (1/" in log_path.read_text(), 30, "`up` to see the dead worker")
        wait_until(
            lambda: len(w := _augment_workers(proc.pid)) == 2 and victim.pid not in {p.pid for p in w},  # type: ignore[union-attr]
            30,
            "a replacement augment worker",
        )
        auth = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{base}/v1/jobs", timeout=5).status_code == 401
        ds = httpx.post(
            f"{base}/v1/datasets",
            headers=auth,
            files={"file": ("s.tsv", SST2_SAMPLE.encode())},
            data={"task": "sst-2"},
            timeout=30,
        )
        assert ds.status_code == 201, ds.text
        job = httpx.post(
            f"{base}/v1/augmentations",
            headers=auth,
            timeout=30,
            json={"dataset_id": ds.json()["id"], "n": 3, "shard_rows": 2, "mlm_model": str(tiny_mlm_dir)},
        )
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]

        def finished() -> dict | None:
            body = httpx.get(f"{base}/v1/jobs/{job_id}", headers=auth, timeout=5).json()
            return body if body["status"] in {"succeeded", "failed", "cancelled"} else None

        final = wait_until(finished, 120, "the job to finish", interval=0.3)
        assert final["status"] == "succeeded", final  # type: ignore[index]
        result = httpx.get(f"{base}/v1/jobs/{job_id}/result", headers=auth, timeout=30)
        assert result.status_code == 200 and result.text.startswith("sentence\tlabel\n")

        descendants = psutil.Process(proc.pid).children(recursive=True)
        assert len(descendants) >= 4  # redis, api, 2 workers
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        time.sleep(0.5)
        alive = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        assert alive == [], f"left behind: {[(p.pid, p.cmdline()) for p in alive]}"
        assert "stopped" in log_path.read_text()
    finally:
        kill_process_group(proc)
        for child in psutil.Process().children(recursive=True):
            if "redis-server" in " ".join(child.cmdline()) and str(tmp_path) in " ".join(child.cmdline()):
                child.kill()

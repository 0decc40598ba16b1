"""Fair scheduling, measured: how long a small augmentation of team B takes while a large one of team A runs,
with the FIFO queue (every shard queued at submission) and with fair scheduling (a window of shards per job,
``workers/augment/feed.py``).

Per mode, on loopback only: an embedded Redis on a unix socket in a temporary folder, W real `distillery
worker` processes, the API in-process (no port). A warm-up job loads the model in every worker; then A's
job is submitted, and B's as soon as A is running. Reported per mode: B's time to finish (submit -> succeeded),
B's wait for its first shard, and A's total time. Every wait has a deadline (--timeout-s); the script stops
its workers and Redis and removes its folder whatever happens. Output is printed and written to
bench/results/fair-scheduling/<UTC time>.txt.

Usage (from the repository root, on an idle machine):
    .venv/bin/python bench/reliability/fair_scheduling.py --rows-a 400 --shard-rows 25 --rows-b 20 --workers 2
Smoke run (seconds): --rows-a 8 --shard-rows 2 --rows-b 2 --workers 1 --n 1 --k 2
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from fastapi.testclient import TestClient  # noqa: E402

from services.api.app import create_app  # noqa: E402
from shared.redis_conn import EmbeddedRedis  # noqa: E402
from shared.settings import Settings  # noqa: E402

GLUE = REPO.parent / "shared" / "data" / "glue" / "SST-2"
DEFAULT_MLM = REPO.parent / "shared" / "models" / "minilm3-mlm-rough"
KEYS = {"team-a": "key-a", "team-b": "key-b"}
OUT_DIR = REPO / "bench" / "results" / "fair-scheduling"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows-a", type=int, default=400, help="rows of team A's large job")
    p.add_argument("--rows-b", type=int, default=20, help="rows of team B's small job (one shard)")
    p.add_argument("--shard-rows", type=int, default=25)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--n", type=int, default=4)
    p.add_argument("--k", type=int, default=8)
    p.add_argument("--mlm-model", type=Path, default=DEFAULT_MLM)
    p.add_argument("--modes", default="fifo,fair", help="comma-separated: fifo, fair")
    p.add_argument("--timeout-s", type=float, default=900.0, help="deadline of each mode")
    return p.parse_args()


def wait_for(predicate: Callable[[], Any], deadline: float, what: str, interval: float = 0.1) -> Any:
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


def tsv(path: Path, rows: int, skip: int = 0) -> bytes:
    lines = path.read_bytes().split(b"\n")
    return b"\n".join([lines[0], *lines[1 + skip : 1 + skip + rows]]) + b"\n"


class Run:
    """One mode: Redis, workers and the in-process API, torn down by ``close``."""

    def __init__(self, args: argparse.Namespace, fair: bool) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="fair-bench-"))
        self.redis = EmbeddedRedis(self.work / "redis", persist=False)
        self.url = self.redis.start()
        self.procs: list[subprocess.Popen] = []
        mlm = args.mlm_model.resolve()
        self.settings = Settings(
            redis_url=self.url,
            data_dir=self.work / "data",
            api_keys=",".join(f"{t}:{k}" for t, k in KEYS.items()),
            model_roots=str(mlm.parent),
            fair_scheduling=fair,
            max_augment_rows_out=10**9,
        )
        self.client = TestClient(create_app(self.settings))
        self.body = {"mlm_model": str(mlm), "n": args.n, "k": args.k, "shard_rows": args.shard_rows}

    def start_workers(self, deadline: float) -> None:
        env = {
            **os.environ,
            "DISTILLERY_REDIS_URL": self.url,
            "DISTILLERY_DATA_DIR": str(self.settings.data_dir),
            "HF_HUB_OFFLINE": "1",
            "OMP_NUM_THREADS": "1",
            "PYTHONPATH": str(REPO),
        }
        log = open(self.work / "workers.log", "ab")  # noqa: SIM115 - closed with the folder
        for _ in range(self.args.workers):
            cmd = [sys.executable, "-m", "services.cli.main", "worker", "--queue", "augment"]
            self.procs.append(
                subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
            )

        def registered() -> bool:
            return self.client.get("/readyz").json().get("workers", {}).get("augment", 0) >= self.args.workers

        wait_for(registered, deadline, "the workers to register")

    def auth(self, team: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {KEYS[team]}"}

    def upload(self, team: str, data: bytes) -> str:
        r = self.client.post(
            "/v1/datasets", headers=self.auth(team), files={"file": ("d.tsv", data)}, data={"task": "sst-2"}
        )
        r.raise_for_status()
        return r.json()["id"]

    def submit(self, team: str, dataset_id: str, **extra: Any) -> str:
        r = self.client.post(
            "/v1/augmentations", headers=self.auth(team), json={**self.body, "dataset_id": dataset_id, **extra}
        )
        r.raise_for_status()
        return r.json()["id"]

    def job(self, team: str, job_id: str) -> dict[str, Any]:
        return self.client.get(f"/v1/jobs/{job_id}", headers=self.auth(team)).json()

    def finished(self, team: str, job_id: str, deadline: float) -> dict[str, Any]:
        job = wait_for(
            lambda: (j := self.job(team, job_id))["status"] in ("succeeded", "failed", "cancelled") and j,
            deadline,
            f"job {job_id}",
        )
        if job["status"] != "succeeded":
            raise RuntimeError(f"job {job_id} {job['status']}: {job['error']}")
        return job

    def first_shard_wait_s(self, team: str, job_id: str) -> float:
        items = self.client.get(f"/v1/jobs/{job_id}/events?limit=1000", headers=self.auth(team)).json()["items"]
        created = next(e["ts"] for e in items if e["kind"] == "created")
        started = next(e["ts"] for e in items if e["kind"] == "shard_started")
        return (_ts(started) - _ts(created)).total_seconds()

    def close(self) -> None:
        self.client.close()
        for proc in self.procs:
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(proc.pid, sig)
                    proc.wait(wait)
                    break
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    continue
        self.redis.stop()
        shutil.rmtree(self.work, ignore_errors=True)


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def measure(args: argparse.Namespace, mode: str) -> dict[str, Any]:
    run = Run(args, fair=mode == "fair")
    deadline = time.monotonic() + args.timeout_s
    try:
        run.start_workers(deadline)
        warm = run.upload("team-a", tsv(GLUE / "dev.tsv", args.workers))
        run.finished("team-a", run.submit("team-a", warm, shard_rows=1), deadline)  # every worker loads the model
        ds_a = run.upload("team-a", tsv(GLUE / "train.tsv", args.rows_a))
        ds_b = run.upload("team-b", tsv(GLUE / "dev.tsv", args.rows_b, skip=args.workers))
        t_a = time.monotonic()
        job_a = run.submit("team-a", ds_a)
        wait_for(lambda: run.job("team-a", job_a)["status"] == "running", deadline, "A to start", interval=0.02)
        t_b = time.monotonic()
        job_b = run.submit("team-b", ds_b, shard_rows=max(args.rows_b, 1))
        run.finished("team-b", job_b, deadline)
        b_done = time.monotonic() - t_b
        run.finished("team-a", job_a, deadline)
        a_done = time.monotonic() - t_a
        return {
            "mode": mode,
            "b_time_to_finish_s": round(b_done, 2),
            "b_wait_for_first_shard_s": round(run.first_shard_wait_s("team-b", job_b), 2),
            "a_total_s": round(a_done, 2),
            "a_shards": run.job("team-a", job_a)["progress"]["shards_total"],
        }
    finally:
        run.close()


def main() -> int:
    args = parse_args()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    out = OUT_DIR / f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}.txt"
    with open(out, "w") as report:

        def say(line: str) -> None:
            print(line, flush=True)
            report.write(line + "\n")

        say(f"# {' '.join(sys.argv)}")
        say(f"# cores={os.cpu_count()} workers={args.workers} rows_a={args.rows_a} shard_rows={args.shard_rows} "
            f"rows_b={args.rows_b} n={args.n} k={args.k} model={args.mlm_model.name}")  # fmt: skip
        for mode in [m.strip() for m in args.modes.split(",") if m.strip()]:
            try:
                say(json.dumps(measure(args, mode)))
            except (TimeoutError, RuntimeError) as exc:
                say(json.dumps({"mode": mode, "error": str(exc)}))
                return 1
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

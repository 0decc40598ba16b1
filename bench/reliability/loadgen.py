"""A light load generator: many concurrent keep-alive HTTP/1.1 clients on asyncio, in several processes.

Why not httpx: at a thousand requests a second its per-request cost on the client side is of the order of
the server's, and client and server share the same cores here; a minimal client (one GET, a status line,
headers, a Content-Length body) measures the server rather than the client. Each process runs
``clients`` connections for ``seconds`` and returns its latencies and error counts; ``run_load`` merges them.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def merge(self, other: LoadResult) -> None:
        self.latencies_ms += other.latencies_ms
        self.statuses.update(other.statuses)
        self.seconds = max(self.seconds, other.seconds)

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return float("nan")
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != "200")

    def summary(self) -> str:
        n = len(self.latencies_ms)
        rate = n / self.seconds if self.seconds else 0.0
        return (
            f"{n} requests in {self.seconds:.1f} s ({rate:.0f}/s), p50 {self.percentile(50):.1f} ms, "
            f"p99 {self.percentile(99):.1f} ms, max {max(self.latencies_ms, default=0):.1f} ms, "
            f"errors {self.errors} ({dict(self.statuses)})"
        )


async def _get(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> str:
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("closed")
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    await reader.readexactly(length)
    return status_line.split()[1].decode()


async def _client(url: str, key: str, paths: list[str], deadline: float, result: LoadResult) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
    while time.monotonic() < deadline:
        path = random.choice(paths)
        request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {key}\r\n\r\n".encode()
        started = time.perf_counter()
        try:
            if conn is None:
                conn = await asyncio.open_connection(host, port)
            status = await asyncio.wait_for(_get(*conn, request), 30)
        except (OSError, ConnectionError, asyncio.IncompleteReadError, TimeoutError) as exc:
            result.statuses[f"transport:{type(exc).__name__}"] += 1
            if conn is not None:
                conn[1].close()
            conn = None
            await asyncio.sleep(0.05)
            continue
        result.latencies_ms.append((time.perf_counter() - started) * 1000)
        result.statuses[status] += 1
    if conn is not None:
        conn[1].close()


def _process(url: str, key: str, paths: list[str], clients: int, seconds: float) -> LoadResult:
    async def main() -> LoadResult:
        result = LoadResult()
        start = time.monotonic()
        deadline = start + seconds
        await asyncio.gather(*(_client(url, key, paths, deadline, result) for _ in range(clients)))
        result.seconds = time.monotonic() - start
        return result

    return asyncio.run(main())


def run_load(url: str, key: str, paths: list[str], clients: int, seconds: float, processes: int = 2) -> LoadResult:
    """``clients`` concurrent keep-alive clients spread over ``processes`` processes, for ``seconds``."""
    per = [clients // processes + (1 if i < clients % processes else 0) for i in range(processes)]
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        parts = pool.starmap(_process, [(url, key, paths, n, seconds) for n in per if n])
    total = LoadResult()
    for part in parts:
        total.merge(part)
    return total

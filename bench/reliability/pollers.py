"""A background poller of one job that counts every answer by status (and transport errors), so a fault
script can say what clients saw while the fault lasted: 200s, 503s, and anything else (which must be 0)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx


@dataclass
class JobPoller:
    """Polls ``GET /v1/jobs/{job_id}`` every ``interval`` seconds in a thread until stopped."""

    base: str
    headers: dict[str, str]
    job_id: str
    interval: float = 0.1
    answers: Counter[str] = field(default_factory=Counter)
    #: time.monotonic() at which the latest request answered 200 was sent.
    last_ok: float = 0.0
    #: (seconds since start, status) of every answer that was not a 200.
    not_ok: list[tuple[float, str]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> JobPoller:
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name="job-poller", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        with httpx.Client(base_url=self.base, headers=self.headers, timeout=10) as client:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    status = str(client.get(f"/v1/jobs/{self.job_id}").status_code)
                except httpx.HTTPError as exc:
                    status = f"transport:{type(exc).__name__}"
                self.answers[status] += 1
                if status == "200":
                    self.last_ok = sent  # when the request that got a 200 was sent
                else:
                    self.not_ok.append((round(time.monotonic() - self._t0, 2), status))
                self._stop.wait(self.interval)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)

    def unexpected(self, allowed: frozenset[str] = frozenset({"200", "503"})) -> int:
        """Answers other than ``allowed`` (a 500 is never allowed)."""
        return sum(n for status, n in self.answers.items() if status not in allowed)

    def summary(self) -> str:
        return ", ".join(f"{status}: {n}" for status, n in sorted(self.answers.items()))

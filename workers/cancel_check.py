"""Cancellation checks at most every few seconds: a job's loops ask ``should_stop()`` at every step or MLM
batch, and each answer is a Redis read (a round trip that, on a GPU, costs more than a training step)."""

from __future__ import annotations

import time
from collections.abc import Callable


def throttled(
    should_stop: Callable[[], bool], interval_s: float, clock: Callable[[], float] = time.monotonic
) -> Callable[[], bool]:
    """``should_stop`` asked at the first call and then at most once every ``interval_s`` seconds (False in
    between); once it has said True it is not asked again."""
    last = [float("-inf")]
    stopped = [False]

    def check() -> bool:
        if stopped[0]:
            return True
        now = clock()
        if now - last[0] >= interval_s:
            last[0] = now
            stopped[0] = bool(should_stop())
        return stopped[0]

    return check

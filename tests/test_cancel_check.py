"""Cancellation is asked at most every interval, at once the first time, and stays true once true."""

from __future__ import annotations

from workers.cancel_check import throttled


def test_asks_first_then_once_per_interval_and_remembers_a_stop() -> None:
    now = [100.0]
    asked: list[float] = []
    answer = [False]

    def should_stop() -> bool:
        asked.append(now[0])
        return answer[0]

    check = throttled(should_stop, 2.0, clock=lambda: now[0])
    assert check() is False and asked == [100.0]  # the first call asks
    now[0] = 101.0
    answer[0] = True
    assert check() is False and asked == [100.0]  # within the interval: not asked
    now[0] = 102.0
    assert check() is True and asked == [100.0, 102.0]
    now[0] = 102.5
    assert check() is True and asked == [100.0, 102.0]  # a stop is final, no further reads

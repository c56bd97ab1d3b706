"""bot/rate_limits.py as this branch has it: a sliding window per (user, action), bounded memory."""

from __future__ import annotations

from bot.rate_limits import RateLimits


def test_sliding_window_and_bounded_memory() -> None:
    now = [0.0]
    limits = RateLimits({"order": (2, 10.0)}, max_keys=3, clock=lambda: now[0])
    assert limits.retry_after(1, "order") is None
    now[0] = 4.0
    assert limits.retry_after(1, "order") is None
    assert limits.retry_after(1, "order") == 6.0  # the first attempt leaves the window at t=10
    assert limits.retry_after(2, "order") is None  # per user
    now[0] = 10.0
    assert limits.retry_after(1, "order") is None  # t=0 slid out; t=4 and t=10 are in
    assert limits.retry_after(1, "order") is not None
    for user in range(100, 110):
        limits.retry_after(user, "order")
    assert len(limits) == 3  # the least recently used pairs were dropped

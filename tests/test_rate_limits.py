"""The per-user limiter on its own, on a clock the test moves (bot/rate_limits.py)."""

from __future__ import annotations

import pytest

from bot.rate_limits import DEFAULT_LIMIT, Limit, RateLimits, wait_seconds


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_one_per_interval() -> None:
    clock = Clock()
    limits = RateLimits({"x": Limit(2, 10.0)}, clock=clock)
    assert limits.retry_after(1, "x") is None
    assert limits.retry_after(1, "x") is None
    assert limits.retry_after(1, "x") == pytest.approx(10.0)
    clock.now += 4
    assert limits.retry_after(1, "x") == pytest.approx(6.0)  # a refused try does not lengthen the wait
    assert limits.retry_after(2, "x") is None  # per user
    assert limits.retry_after(1, "y") is None  # per action
    clock.now += 6
    assert limits.retry_after(1, "x") is None
    assert limits.retry_after(1, "x") is not None
    clock.now += 1000  # a long pause refills the burst, no more
    assert [limits.retry_after(1, "x") is None for _ in range(3)] == [True, True, False]


def test_undo_gives_a_use_back() -> None:
    limits = RateLimits({"x": Limit(1, 60.0)}, clock=Clock())
    assert limits.retry_after(1, "x") is None
    limits.undo(1, "x")
    assert limits.retry_after(1, "x") is None
    assert limits.retry_after(1, "x") is not None


def test_memory_is_bounded() -> None:
    limits = RateLimits({"x": Limit(1, 60.0)}, max_entries=100, clock=Clock())
    for user in range(1000):
        assert limits.retry_after(user, "x") is None
    assert len(limits) == 100
    assert limits.retry_after(999, "x") is not None  # the most recent are kept


def test_unknown_actions_get_the_default_and_seconds_are_whole() -> None:
    limits = RateLimits(clock=Clock())
    assert limits.limit("mini_app_something") == DEFAULT_LIMIT
    assert limits.limit("catalog_refresh").interval == 20
    assert wait_seconds(0.01) == 1 and wait_seconds(19.2) == 20

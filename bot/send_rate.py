"""The Application's send rate limiter: Telegram's overall limit as Telegram counts it.

Telegram allows about 30 messages in any one second. python-telegram-bot's AIORateLimiter counts with a leaky
bucket: its default (30 per 1 s) lets 30 go at once and then 30 a second, up to 60 in the first second of a
burst, which Telegram answers with 429s (each a retry that holds back every request of the bot). A bucket
small enough never to exceed 30 in a second (one per 1/29 s) is below 30 a second even when sends come
evenly, so a steady 30 updates a second would queue up behind it. A sliding window is both: at most 30 sends
in any second, and none waits while fewer than 30 went out in the last second.

The per-group limit (20 a minute) is AIORateLimiter's own per-group bucket, unchanged.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from types import TracebackType

from telegram.ext import AIORateLimiter

SENDS_PER_WINDOW = 30
WINDOW_S = 1.0


class SlidingWindow:
    """An async context manager letting at most `limit` sends into any `period` seconds, in arrival order.

    A send counts from the moment it starts until `period` after its answer came back: Telegram stamped it
    somewhere in between, so the window can only be wider than Telegram's, never narrower, however long the
    requests take on the way."""

    def __init__(self, limit: int = SENDS_PER_WINDOW, period: float = WINDOW_S) -> None:
        self.limit, self.period = limit, period
        self._finished: deque[float] = deque()  # when each send of the last period got its answer
        self._in_flight = 0
        self._turn = asyncio.Lock()  # FIFO: the first to wait is the first to go
        self._answered = asyncio.Event()

    def _free(self, now: float) -> bool:
        while self._finished and now - self._finished[0] >= self.period:
            self._finished.popleft()
        return self._in_flight + len(self._finished) < self.limit

    async def __aenter__(self) -> None:
        async with self._turn:
            while not self._free(now := time.monotonic()):
                if self._finished:  # the oldest answered send leaves the window first
                    await asyncio.sleep(self.period - (now - self._finished[0]))
                else:  # all `limit` in flight: wait for an answer, then for its period
                    self._answered.clear()
                    await self._answered.wait()
            self._in_flight += 1

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._in_flight -= 1
        self._finished.append(time.monotonic())
        self._answered.set()


class SendRateLimiter(AIORateLimiter):
    """AIORateLimiter (per-group buckets, retries after a 429) with the sliding window as overall limit."""

    def __init__(self, *, max_retries: int = 3) -> None:
        super().__init__(max_retries=max_retries)
        # AIORateLimiter enters its overall limiter as `async with`; a SlidingWindow is entered the same way
        self._base_limiter = SlidingWindow()  # type: ignore[assignment]

"""Writes that record what a panel has already done (an order or a refill it accepted): they must not be lost
to one failed commit. The caller logs the panel's id at WARNING before calling here, so that the id survives
even when every write fails.

`write_with_retries` tries the write a few times with a short backoff, a fresh session (and so a fresh
connection from the pool) each time: a dropped connection, a deadlock, "database is locked" or a failover
usually pass within a second or two. When every try failed, `keep_trying_later` can take over in the
background (the second, best-effort path): it tries a smaller write every few seconds for a few minutes, so
that a database outage of that length still ends with the row right. Nothing here calls the panel again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)

T = TypeVar("T")
Write = Callable[[AsyncSession], Awaitable[T]]

RETRY_DELAYS = (0.2, 0.5, 1.5)  # seconds between the tries: 4 tries within about 2 s
LATER_EVERY = 5.0  # seconds between the background tries
LATER_FOR = 300.0  # seconds the background tries go on

# Background tries under way: a reference keeps each task alive until it is done.
_pending: set[asyncio.Task[Any]] = set()


class WriteFailed(Exception):
    """Every try of a write failed; `__cause__` is the last error."""


async def write_with_retries(
    sessions: async_sessionmaker[AsyncSession],
    write: Write[T],
    *,
    what: str,
    delays: Sequence[float] = RETRY_DELAYS,
) -> T:
    """`write(session)` then commit, in a fresh session per try; WriteFailed after the last try failed.
    `what` names the write in the log ("order 12 placed as #3456")."""
    last: BaseException | None = None
    for attempt in range(len(delays) + 1):
        if attempt:
            await asyncio.sleep(delays[attempt - 1])
        try:
            async with sessions() as session:
                result = await write(session)
                await session.commit()
            if attempt:
                log.warning("%s: written at try %d", what, attempt + 1)
            return result
        except Exception as exc:  # any database trouble; the data to write is still in our hands
            last = exc
            log.warning("%s: write failed (try %d of %d): %r", what, attempt + 1, len(delays) + 1, exc)
    raise WriteFailed(what) from last


def keep_trying_later(
    sessions: async_sessionmaker[AsyncSession],
    write: Write[Any],
    *,
    what: str,
    every: float | None = None,
    for_seconds: float | None = None,
) -> asyncio.Task[bool]:
    """Try `write` in the background every `every` seconds (LATER_EVERY) for `for_seconds` (LATER_FOR); the
    task's result says whether it got through. Logged at ERROR when it never did (an operator must reconcile
    from the log)."""
    every = LATER_EVERY if every is None else every
    for_seconds = LATER_FOR if for_seconds is None else for_seconds

    async def run() -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + for_seconds
        while True:
            await asyncio.sleep(every)
            try:
                async with sessions() as session:
                    await write(session)
                    await session.commit()
            except Exception as exc:
                if loop.time() >= deadline:
                    log.error("%s: NOT WRITTEN after %.0f s (%r); reconcile by hand", what, for_seconds, exc)
                    return False
                continue
            log.warning("%s: written by the background retry", what)
            return True

    task = asyncio.get_running_loop().create_task(run(), name=f"durable write: {what}")
    _pending.add(task)
    task.add_done_callback(_pending.discard)
    return task


def pending_writes() -> int:
    """Background tries still under way (for tests and shutdown)."""
    return len(_pending)


__all__ = ["WriteFailed", "keep_trying_later", "pending_writes", "write_with_retries"]

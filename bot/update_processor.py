"""Updates of different chats run concurrently; updates of one chat run one after another, in order.

python-telegram-bot offers all-sequential (slow: one user's slow panel call holds up every other chat) or
all-concurrent (unsafe: a conversation must see one chat's updates in order). This processor does both: a
FIFO lock per chat, taken before the global concurrency slot so one busy chat cannot fill the slots. Inside
the slot, the conversation store (bot/conversation.py) wraps the handling of the update, all handler groups:
on PostgreSQL it also locks the chat across instances, and it loads and writes the conversation row.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

from bot.conversation import ConversationStore


def _chat_key(update: object) -> int | None:
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    if update.effective_user is not None:  # inline queries, chosen inline results: per user
        return update.effective_user.id
    return None


# Told about every handled update and the seconds its handling took (bot/metrics.py Metrics.observe_update).
UpdateObserver = Callable[[object, float], None]


class PerChatUpdateProcessor(BaseUpdateProcessor):
    __slots__ = ("_locks", "_waiting", "observer", "store")

    def __init__(
        self,
        max_concurrent_updates: int = 64,
        observer: UpdateObserver | None = None,
        store: ConversationStore | None = None,
    ) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = {}
        self._waiting: dict[int, int] = {}
        self.observer = observer
        self.store = store

    async def process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = _chat_key(update)
        if key is None:
            await super().process_update(update, coroutine)
            return
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._waiting[key] = self._waiting.get(key, 0) + 1
        try:
            async with lock:  # asyncio.Lock wakes waiters in FIFO order: the chat's order is kept
                await super().process_update(update, coroutine)
        finally:
            self._waiting[key] -= 1
            if not self._waiting[key]:  # nobody queued behind: forget the lock, keep memory flat
                del self._waiting[key]
                del self._locks[key]

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        started = time.perf_counter()  # the handling itself: the wait for the chat's lock is not counted
        try:
            if self.store is None:
                await coroutine
            else:
                async with self.store.hold(update):
                    await coroutine
        finally:
            if inspect.iscoroutine(coroutine) and inspect.getcoroutinestate(coroutine) == "CORO_CREATED":
                coroutine.close()  # the database failed before the handlers ran: no "never awaited" warning
            if self.observer is not None:
                self.observer(update, time.perf_counter() - started)

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        if self.store is not None:
            await self.store.close()

"""The conversation runtime: each update's conversation row, read before the handlers run, written after.

The key is aiogram's FSM key, (chat id, user id): in a private chat user == chat, in a group one state per
person. The row holds the active flow (named after its command: "order", "connect" ...), its step, its data
(JSON only) and its deadline. Everything a conversation needs is in the row, so any instance can take the
next update of any chat, and a restart loses nothing. handlers/flow.py routes updates with it.

`ConversationStore.hold(update)` wraps the handling of one update (bot/update_processor.py calls it):
- on PostgreSQL it takes a session-level advisory lock on the chat id on a connection of its own, so two
  instances never handle one chat's updates at once. Session-level, not `pg_advisory_xact_lock`: handlers
  commit in their own sessions (ordering.place_order must commit `sending` before it calls the panel), and an
  xact lock would go with the first commit on its transaction;
- it loads the chat's row and every conversation row of the chat in one query (a new chat's row is then
  inserted and read back in one more), and checks the deadline: a flow past it is ended and `expired`
  names it. Core statements on a connection (storage/repo/conversations.py), not ORM sessions: this runs
  for every update, and the ORM's unit of work would cost more than the statements themselves;
- it writes the person's row at the end only if it changed, in one statement (on PostgreSQL the lock's
  connection is in autocommit mode: each of these statements is its own transaction).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from telegram import Update

from storage import repo
from storage.models import Account, Chat
from storage.repo.conversations import ConversationRow
from storage.types import utcnow

log = logging.getLogger(__name__)

FLOW_TIMEOUT = timedelta(minutes=30)
NOTES = "notes"  # the part of `data` that outlives a flow (e.g. the catalog's search texts)


@dataclass(eq=False)
class ConversationState:
    """One person's conversation in one chat, as this update sees it. Handlers change it in place."""

    chat_id: int
    user_id: int
    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    deadline: datetime | None = None
    chat: Chat | None = None  # the chat's row, loaded once for the update
    others: list[ConversationRow] = field(default_factory=list)  # other people's rows in this chat (groups)
    expired: str | None = None  # the flow that was past its deadline when this update came
    stored: str | None = None  # the row as loaded (see snapshot), written back only if it changed
    # chat id -> its accounts, listed once per update (handlers/common.py Turn.accounts); not stored
    accounts: dict[int, list[Account]] = field(default_factory=dict)

    def enter(self, flow: str, step: str, timeout: timedelta = FLOW_TIMEOUT) -> None:
        """Make `flow` the active one at `step`, with a fresh deadline (the data is the caller's: entering
        from another flow calls end() first, see handlers/flow.py)."""
        self.flow, self.step, self.deadline = flow, step, utcnow() + timeout

    def end(self) -> None:
        """No flow active any more (the notes stay)."""
        self.flow = self.step = self.deadline = None
        self.data = {k: v for k, v in self.data.items() if k == NOTES}

    @property
    def notes(self) -> dict[str, Any]:
        return self.data.setdefault(NOTES, {})

    def kept_data(self) -> dict[str, Any]:
        """The data worth storing: empty parts (a flow_data() that was only read) are left out."""
        return {k: v for k, v in self.data.items() if v not in ({}, [], None)}

    def snapshot(self) -> str:
        deadline = self.deadline.isoformat() if self.deadline else None
        return json.dumps([self.flow, self.step, self.kept_data(), deadline], sort_keys=True, default=str)

    def owner_of(self, message_id: int) -> int | None:
        """Who, among the people with a flow in this chat, was sent this message as a step (see
        handlers/flow.py remember_message); None when nobody's flow claims it."""
        if message_id in self.data.get("msgs", ()):
            return self.user_id
        for row in self.others:
            if row.flow is not None and message_id in (row.data or {}).get("msgs", ()):
                return row.user_id
        return None


_LOCK = "SELECT pg_advisory_lock($1)"  # asyncpg's own statements (see ConversationStore._lock)
_UNLOCK = "SELECT pg_advisory_unlock($1)"


def _replace_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A pooled lock connection the server closed (a restart, a failover) is replaced before use: asyncpg
    saw the close already, no round trip needed. (SQLAlchemy reconnects the entry on DisconnectionError.)"""
    driver = record.driver_connection
    if driver is not None and driver.is_closed():
        raise DisconnectionError("the server closed this connection")


_current: ContextVar[ConversationState | None] = ContextVar("conversation", default=None)


def current() -> ConversationState | None:
    """The conversation of the update being handled (None outside the update processor, and for updates
    without a chat such as inline queries)."""
    return _current.get()


def chat_lock_key(chat_id: int) -> int:
    """The chat's advisory lock key: a 64-bit hash, not the id itself, so that no chat id can ever meet
    another user of advisory locks (bot/leader.py's key is a small number, and so are some user ids)."""
    digest = hashlib.blake2b(f"smmbot-chat:{chat_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def state_key(update: object) -> tuple[int, int] | None:
    if not isinstance(update, Update) or update.effective_chat is None:
        return None
    user = update.effective_user
    return update.effective_chat.id, (user.id if user else 0)


class ConversationStore:
    def __init__(self, engine: AsyncEngine, *, max_concurrent: int = 32) -> None:
        self.engine = engine
        self.locks_across_instances = engine.dialect.name == "postgresql"
        # PostgreSQL: the lock connections come from a pool of their own, one per concurrent update, so an
        # update holding its chat's lock can never starve its handlers of a connection from the main pool.
        # Autocommit: every statement on them (lock, load, save, unlock) stands alone, so no BEGIN and
        # COMMIT round trips around each; the session lock is not tied to a transaction anyway.
        self.lock_engine = (
            create_async_engine(
                engine.url,
                pool_size=max_concurrent,
                max_overflow=0,
                isolation_level="AUTOCOMMIT",  # no pre-ping: see _lock
            )
            if self.locks_across_instances
            else None
        )
        if self.lock_engine is not None:
            event.listen(self.lock_engine.sync_engine, "checkout", _replace_closed)

    async def close(self) -> None:
        if self.lock_engine is not None:
            await self.lock_engine.dispose()

    @asynccontextmanager
    async def hold(self, update: object) -> AsyncIterator[ConversationState | None]:
        """Lock the chat (PostgreSQL), load, expose through `current()`, write back if changed."""
        key = state_key(update)
        if key is None:
            yield None
            return
        assert isinstance(update, Update)
        if not self.locks_across_instances:
            async with self.engine.connect() as connection:
                async with self._exposed(connection, update, *key) as state:
                    yield state
            return
        lock = chat_lock_key(key[0])
        connection, driver = await self._lock(lock)
        try:
            async with self._exposed(connection, update, *key) as state:
                yield state
        finally:
            try:
                await driver.execute(_UNLOCK, lock)
            except Exception:  # the lock dies with the connection: do not give it back to the pool
                log.warning("could not release the lock of chat %s", key[0], exc_info=True)
                await connection.invalidate()
            await connection.close()

    async def _lock(self, key: int) -> tuple[AsyncConnection, Any]:
        """A connection of the lock pool holding the chat's lock, and its asyncpg connection.

        The lock and the unlock go to asyncpg directly: they return nothing we read, and SQLAlchemy's
        statement machinery cost more CPU than their round trips (tests/bench/updates.py). The pool does not
        pre-ping either (one more round trip per update): a connection the server closed is known closed to
        asyncpg already, and is replaced at checkout (_replace_closed); one that died silently fails at the
        lock, and the lock is taken once more on a new connection (nothing was done on the dead one)."""
        assert self.lock_engine is not None
        for attempt in (1, 2):
            connection = await self.lock_engine.connect()
            try:
                driver = (await connection.get_raw_connection()).driver_connection
                await driver.execute(_LOCK, key)
                return connection, driver
            except Exception as exc:
                await connection.invalidate()
                await connection.close()
                if attempt == 2:
                    raise
                log.info("could not lock on a pooled connection (%r); trying a new one", exc)
            except BaseException:
                await connection.close()
                raise
        raise AssertionError("unreachable")

    @asynccontextmanager
    async def _exposed(
        self, connection: AsyncConnection, update: Update, chat_id: int, user_id: int
    ) -> AsyncIterator[ConversationState]:
        state = await self._load(connection, update, chat_id, user_id)
        token = _current.set(state)
        try:
            yield state
        finally:
            _current.reset(token)
        if state.snapshot() != state.stored:
            await self._save(connection, state)

    @staticmethod
    async def _load(
        connection: AsyncConnection, update: Update, chat_id: int, user_id: int
    ) -> ConversationState:
        tg_chat = update.effective_chat
        assert tg_chat is not None
        message = update.effective_message
        chat, rows = await repo.conversations.chat_with_conversations(connection, chat_id)  # one query
        created = False
        if update.my_chat_member is None and not (
            message is not None and (message.migrate_from_chat_id or message.migrate_to_chat_id)
        ):  # not for the bot being removed (the chat must not become active) nor a migration (moves rows)
            if chat is None:  # a new chat: inserted and read back in one statement
                chat = await repo.chats.insert_chat(connection, chat_id, tg_chat.type, tg_chat.title)
                created = chat is not None
                if chat is None:  # another instance inserted it first
                    chat, rows = await repo.conversations.chat_with_conversations(connection, chat_id)
            if chat is not None:  # no query unless the kind or title changed or the chat was inactive
                chat = await repo.chats.refresh_chat(connection, chat, tg_chat.type, tg_chat.title)
        await connection.commit()  # writes only for a new chat or a changed title; ends the read either way
        state = ConversationState(chat_id, user_id, chat=chat)
        if created:  # no account can name a chat whose row this update created (foreign key): none to list
            state.accounts[chat_id] = []
        state.stored = state.snapshot()  # no row yet is the same as an empty one: nothing to write
        for row in rows:
            if row.user_id != user_id:
                state.others.append(row)
                continue
            state.flow, state.step, state.data, state.deadline = (
                row.flow,
                row.step,
                dict(row.data or {}),
                row.deadline,
            )
            state.stored = state.snapshot()
        if state.flow is not None and state.deadline is not None and state.deadline <= utcnow():
            state.expired = state.flow
            state.end()
        return state

    @staticmethod
    async def _save(connection: AsyncConnection, state: ConversationState) -> None:
        data = state.kept_data()
        if state.flow is None and not data:
            await repo.conversations.delete_conversation(connection, state.chat_id, state.user_id)
        else:
            await repo.conversations.save_conversation(
                connection,
                state.chat_id,
                state.user_id,
                flow=state.flow,
                step=state.step,
                data=data,
                deadline=state.deadline,
            )
        await connection.commit()

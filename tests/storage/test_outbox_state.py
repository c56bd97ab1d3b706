"""Outbox (idempotent enqueue, due order, retries) and python-telegram-bot state rows."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.repo import outbox, state
from storage.types import utcnow

BUTTONS = [[{"text": "Refresh", "callback_data": "o:r:1"}], [{"text": "Panel", "url": "https://p.example"}]]


async def test_enqueue_is_idempotent_on_dedupe_key(session: AsyncSession) -> None:
    first = await outbox.enqueue(session, 1, "<b>Completed</b>", BUTTONS, dedupe_key="order:1:Completed")
    again = await outbox.enqueue(session, 1, "other text", None, dedupe_key="order:1:Completed")
    assert first is not None and again is None
    assert await outbox.enqueue(session, 1, "no key") is not None
    assert await outbox.enqueue(session, 1, "no key") is not None  # no key: no deduplication
    await session.commit()
    messages = await outbox.due_messages(session, utcnow())
    assert [m.text for m in messages] == ["<b>Completed</b>", "no key", "no key"]
    assert messages[0].buttons == BUTTONS and messages[0].parse_mode == "HTML"


async def test_concurrent_enqueue_keeps_one(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async def put() -> int | None:
        async with session_factory() as s:
            new_id = await outbox.enqueue(s, 1, "x", dedupe_key="same")
            await s.commit()
            return new_id

    results = await asyncio.gather(*(put() for _ in range(4)))
    assert len([r for r in results if r is not None]) == 1
    async with session_factory() as s:
        assert await outbox.pending_count(s) == 1


async def test_due_sent_postponed_failed(session: AsyncSession) -> None:
    now = utcnow() + timedelta(seconds=1)
    a = await outbox.enqueue(session, 1, "a")
    b = await outbox.enqueue(session, 2, "b")
    c = await outbox.enqueue(session, 3, "c", not_before=now + timedelta(minutes=1))
    d = await outbox.enqueue(session, 4, "d")
    await session.commit()
    assert [m.id for m in await outbox.due_messages(session, now)] == [a, b, d]
    assert [m.id for m in await outbox.due_messages(session, now, limit=1)] == [a]
    await outbox.mark_sent(session, a)  # type: ignore[arg-type]
    await outbox.postpone(session, b, now + timedelta(seconds=30), "RetryAfter 30")  # type: ignore[arg-type]
    await outbox.mark_failed(session, d, "Bad Request: can't parse entities")  # type: ignore[arg-type]
    await session.commit()
    assert await outbox.due_messages(session, now) == []
    later = await outbox.due_messages(session, now + timedelta(minutes=2))
    assert [m.id for m in later] == [b, c]
    assert later[0].attempts == 1 and later[0].last_error == "RetryAfter 30"
    assert await outbox.fail_pending_for_chat(session, 3, "Forbidden: bot was blocked") == 1
    assert await outbox.pending_count(session) == 1


async def test_purge_sent(session: AsyncSession) -> None:
    a = await outbox.enqueue(session, 1, "a", dedupe_key="k")
    await outbox.enqueue(session, 1, "b")
    await outbox.mark_sent(session, a)  # type: ignore[arg-type]
    await session.commit()
    assert await outbox.purge_sent(session, utcnow() + timedelta(seconds=1)) == 1
    assert await outbox.pending_count(session) == 1
    assert await outbox.enqueue(session, 1, "a", dedupe_key="k") is not None


def test_buttons_json_keeps_known_keys() -> None:
    rows = [
        [
            {"text": "A", "callback_data": 5, "extra": "x"},
            {"text": "B", "url": "https://b", "callback_data": None},
        ]
    ]
    assert outbox.buttons_json(rows) == [
        [{"text": "A", "callback_data": "5"}, {"text": "B", "url": "https://b"}]
    ]


async def test_state_key_value(session: AsyncSession) -> None:
    assert await state.load_state(session, "user_data") == {}
    await state.save_state(session, "user_data", "7", {"lang": "en", "n": [1, 2]})
    await state.save_state(session, "user_data", "8", {})
    await state.save_state(session, "conversations", "order:[1, 7]", {"state": 3})
    await state.save_state(session, "user_data", "7", {"lang": "ru"})  # replaces
    await session.commit()
    assert await state.load_state(session, "user_data") == {"7": {"lang": "ru"}, "8": {}}
    assert await state.load_state(session, "conversations") == {"order:[1, 7]": {"state": 3}}
    await state.delete_state(session, "user_data", "8")
    await state.delete_state(session, "user_data", "missing")
    assert await state.load_state(session, "user_data") == {"7": {"lang": "ru"}}
    with pytest.raises(ValueError, match="kind"):
        await state.load_state(session, "nonsense")

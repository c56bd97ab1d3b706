"""Outbox (idempotent enqueue, due order, retries) and conversation rows."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.repo import conversations, outbox
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


async def test_conversation_rows(session: AsyncSession) -> None:
    assert await conversations.chat_conversations(session, -5) == []
    deadline = utcnow() + timedelta(minutes=30)
    await conversations.save_conversation(
        session, -5, 7, flow="order", step="2", data={"a": [1, "x"]}, deadline=deadline
    )
    await conversations.save_conversation(session, -5, 8, flow=None, step=None, data={}, deadline=None)
    await conversations.save_conversation(
        session, -5, 7, flow="mass", step="0", data={"b": 1}, deadline=deadline
    )  # replaces
    await session.commit()
    rows = {r.user_id: r for r in await conversations.chat_conversations(session, -5)}
    assert set(rows) == {7, 8}
    assert (rows[7].flow, rows[7].step, rows[7].data) == ("mass", "0", {"b": 1})
    assert rows[7].deadline is not None and abs((rows[7].deadline - deadline).total_seconds()) < 1
    await conversations.delete_conversation(session, -5, 7)
    await conversations.delete_conversation(session, -5, 99)
    assert [r.user_id for r in await conversations.chat_conversations(session, -5)] == [8]
    later = utcnow() + timedelta(seconds=1)
    await conversations.save_conversation(session, -5, 9, flow="order", step="1", data={}, deadline=later)
    assert await conversations.purge_conversations(session, later) == 1  # 8: no flow; 9: not yet due
    await conversations.save_conversation(session, -5, 9, flow="order", step="1", data={}, deadline=utcnow())
    assert await conversations.purge_conversations(session, later + timedelta(seconds=1)) == 1

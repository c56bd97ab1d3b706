"""Outbox: messages to push to chats, written in the same transaction as the change they announce."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Outbox
from storage.repo._util import dialect_insert
from storage.types import utcnow

Buttons = list[list[dict[str, str]]]


async def enqueue(
    session: AsyncSession,
    chat_id: int,
    text: str,
    buttons: Buttons | None = None,
    dedupe_key: str | None = None,
    parse_mode: str | None = "HTML",
    not_before: datetime | None = None,
) -> int | None:
    """Queue a message; the id of the new row, or None when `dedupe_key` was queued before (then nothing
    changes). INSERT .. ON CONFLICT DO NOTHING, so concurrent writers cannot queue it twice."""
    now = utcnow()
    stmt = dialect_insert(session, Outbox).values(
        chat_id=chat_id,
        text=text,
        buttons=buttons,
        parse_mode=parse_mode,
        dedupe_key=dedupe_key,
        attempts=0,
        not_before=not_before or now,
        created_at=now,
    )
    stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Outbox.id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def due_messages(session: AsyncSession, now: datetime, limit: int = 100) -> list[Outbox]:
    """Unsent, not given up, not_before reached; oldest first."""
    stmt = (
        select(Outbox)
        .where(Outbox.sent_at.is_(None), Outbox.failed_at.is_(None), Outbox.not_before <= now)
        .order_by(Outbox.id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def mark_sent(session: AsyncSession, message_id: int) -> None:
    await session.execute(
        update(Outbox).where(Outbox.id == message_id).values(sent_at=utcnow(), attempts=Outbox.attempts + 1),
        execution_options={"synchronize_session": "fetch"},
    )


async def postpone(session: AsyncSession, message_id: int, not_before: datetime, error: str | None) -> None:
    """A failed or throttled attempt: try again at `not_before`."""
    await session.execute(
        update(Outbox)
        .where(Outbox.id == message_id)
        .values(not_before=not_before, last_error=error, attempts=Outbox.attempts + 1),
        execution_options={"synchronize_session": "fetch"},
    )


async def mark_failed(session: AsyncSession, message_id: int, error: str) -> None:
    """Give up on one message (bad markup, too many attempts)."""
    await session.execute(
        update(Outbox)
        .where(Outbox.id == message_id)
        .values(failed_at=utcnow(), last_error=error, attempts=Outbox.attempts + 1),
        execution_options={"synchronize_session": "fetch"},
    )


async def fail_pending_for_chat(session: AsyncSession, chat_id: int, error: str) -> int:
    """Give up on every unsent message of a chat (the bot was blocked or removed). Returns how many."""
    result = await session.execute(
        update(Outbox)
        .where(Outbox.chat_id == chat_id, Outbox.sent_at.is_(None), Outbox.failed_at.is_(None))
        .values(failed_at=utcnow(), last_error=error),
        execution_options={"synchronize_session": "fetch"},
    )
    return result.rowcount  # type: ignore[attr-defined]


async def pending_count(session: AsyncSession) -> int:
    stmt = (
        select(func.count()).select_from(Outbox).where(Outbox.sent_at.is_(None), Outbox.failed_at.is_(None))
    )
    return int((await session.scalar(stmt)) or 0)


async def purge_sent(session: AsyncSession, older_than: datetime) -> int:
    """Delete rows sent or given up before `older_than`. Their dedupe keys can then be queued again, so keep
    this well beyond any window in which the same event could be announced twice."""
    result = await session.execute(
        delete(Outbox).where(
            ((Outbox.sent_at.is_not(None)) & (Outbox.sent_at < older_than))
            | ((Outbox.failed_at.is_not(None)) & (Outbox.failed_at < older_than))
        ),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount  # type: ignore[attr-defined]


def buttons_json(rows: list[list[dict[str, Any]]]) -> Buttons:
    """Keep only the keys the delivery understands (text plus callback_data or url), as strings."""
    allowed = ("text", "callback_data", "url")
    return [[{k: str(b[k]) for k in allowed if b.get(k) is not None} for b in row] for row in rows]

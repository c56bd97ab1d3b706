"""Outbox: messages to push to chats, written in the same transaction as the change they announce."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Chat, Outbox
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


async def postpone(
    session: AsyncSession, message_id: int, not_before: datetime, error: str | None, *, attempt: bool = True
) -> None:
    """A failed or throttled attempt: try again at `not_before`. `attempt=False`: not counted as an attempt
    (Telegram said "retry after": a wait, not a failure)."""
    values: dict[str, Any] = {"not_before": not_before, "last_error": error}
    if attempt:
        values["attempts"] = Outbox.attempts + 1
    await session.execute(
        update(Outbox).where(Outbox.id == message_id).values(values),
        execution_options={"synchronize_session": "fetch"},
    )


BACKOFF_PREFIX = (
    "retry: "  # last_error of a row waiting out a backoff after an error (see retry_backoffs_now)
)


async def retry_backoffs_now(session: AsyncSession, now: datetime) -> int:
    """Make the rows that wait out a backoff after an error (last_error starting with BACKOFF_PREFIX) due now:
    Telegram answers again, their errors were most likely its outage. Rows told to wait by Telegram itself
    (RetryAfter) keep their time. Returns how many."""
    result = await session.execute(
        update(Outbox)
        .where(*_pending(), Outbox.not_before > now, Outbox.last_error.like(BACKOFF_PREFIX + "%"))
        .values(not_before=now),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount  # type: ignore[attr-defined]


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


async def supersede_pending(
    session: AsyncSession,
    chat_ids: Iterable[int],
    patterns: list[str],
    keep: Iterable[str] = (),
    reason: str = "superseded",
) -> int:
    """Give up on the unsent messages of these chats whose dedupe key matches one of the SQL LIKE `patterns`
    (e.g. "order:12:%"), except the keys in `keep`: newer notices about the same things replace them.
    Returns how many."""
    chats, kept = list(set(chat_ids)), list(set(keep))
    if not patterns or not chats:
        return 0
    stmt = update(Outbox).where(
        Outbox.chat_id.in_(chats),
        # "unsent" as one expression no index serves: SQLite would otherwise walk the sent_at index over
        # every unsent row instead of the chat_id index over the few rows of these chats
        func.coalesce(Outbox.sent_at, Outbox.failed_at).is_(None),
        or_(*(Outbox.dedupe_key.like(p) for p in patterns)),
    )
    if kept:
        stmt = stmt.where(Outbox.dedupe_key.not_in(kept))
    result = await session.execute(
        stmt.values(failed_at=utcnow(), last_error=reason), execution_options={"synchronize_session": False}
    )
    return result.rowcount  # type: ignore[attr-defined]


async def enqueue_many(session: AsyncSession, messages: list[dict[str, Any]]) -> int:
    """Queue several messages in one INSERT .. ON CONFLICT (dedupe_key) DO NOTHING. Each dict has chat_id,
    text and optionally buttons, dedupe_key, parse_mode, not_before. Returns how many were new."""
    if not messages:
        return 0
    now = utcnow()
    rows = [
        {
            "chat_id": m["chat_id"],
            "text": m["text"],
            "buttons": m.get("buttons"),
            "parse_mode": m.get("parse_mode", "HTML"),
            "dedupe_key": m.get("dedupe_key"),
            "attempts": 0,
            "not_before": m.get("not_before") or now,
            "created_at": now,
        }
        for m in messages
    ]
    # one cached statement for any number of rows (executemany, sent as multi-row VALUES batches)
    stmt = dialect_insert(session, Outbox).on_conflict_do_nothing(index_elements=["dedupe_key"])
    return len((await session.execute(stmt.returning(Outbox.id), rows)).all())


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


async def state_counts(session: AsyncSession) -> dict[str, int]:
    """{"pending": n, "sent": n, "failed": n} over the rows still in the outbox (sent rows are purged after a
    while, so "sent" is recent history, not a lifetime total). For /stats and /metrics."""
    state = case(
        (Outbox.sent_at.is_not(None), "sent"),
        (Outbox.failed_at.is_not(None), "failed"),
        else_="pending",
    )
    rows = await session.execute(select(state, func.count()).group_by(state))
    counts = {"pending": 0, "sent": 0, "failed": 0}
    counts.update({str(name): int(n) for name, n in rows.all()})
    return counts


# --- delivery (bot/delivery.py): a chat's messages go out strictly in id order ---


def _pending() -> tuple[Any, Any]:
    return Outbox.sent_at.is_(None), Outbox.failed_at.is_(None)


async def due_heads(
    session: AsyncSession, now: datetime, limit: int = 100, exclude: Collection[int] = ()
) -> list[tuple[Outbox, bool, int]]:
    """The oldest pending message of each chat (but the chats in `exclude`), when it is due, oldest first,
    with whether its chat is active (True when the chat has no row) and how many messages the chat has
    pending. A chat whose oldest pending message waits (`not_before` in the future) has nothing due: its later
    messages wait behind it."""
    heads = select(func.min(Outbox.id).label("id"), func.count().label("n")).where(*_pending())
    if exclude:
        heads = heads.where(Outbox.chat_id.not_in(list(exclude)))
    heads = heads.group_by(Outbox.chat_id).subquery()
    stmt = (
        select(Outbox, Chat.active, heads.c.n)
        .join(heads, heads.c.id == Outbox.id)
        .outerjoin(Chat, Chat.id == Outbox.chat_id)
        .where(Outbox.not_before <= now)
        .order_by(Outbox.id)
        .limit(limit)
    )
    return [(row, active is not False, int(n)) for row, active, n in (await session.execute(stmt)).all()]


async def pending_for_chat(session: AsyncSession, chat_id: int, limit: int = 1) -> tuple[list[Outbox], bool]:
    """A chat's pending messages in order (due or not), and whether the chat is active (True when unknown or
    when it has no pending message)."""
    stmt = (
        select(Outbox, Chat.active)
        .outerjoin(Chat, Chat.id == Outbox.chat_id)
        .where(Outbox.chat_id == chat_id, *_pending())
        .order_by(Outbox.id)
        .limit(limit)
    )
    found = (await session.execute(stmt)).all()
    return [row for row, _ in found], all(active is not False for _, active in found)


async def next_due_at(session: AsyncSession, now: datetime) -> datetime | None:
    """When the earliest pending message that is not due yet becomes due (None: none waits)."""
    stmt = select(func.min(Outbox.not_before)).where(*_pending(), Outbox.not_before > now)
    return await session.scalar(stmt)


async def move_to_chat(session: AsyncSession, old_id: int, new_id: int) -> int:
    """Point a chat's pending messages at its new id (the group became a supergroup). Returns how many."""
    result = await session.execute(
        update(Outbox).where(Outbox.chat_id == old_id, *_pending()).values(chat_id=new_id),
        execution_options={"synchronize_session": "fetch"},
    )
    return result.rowcount  # type: ignore[attr-defined]

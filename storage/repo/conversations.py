"""Conversation rows: one per (chat, person), written by the update processor (bot/conversation.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Chat, Conversation
from storage.repo._util import dialect_insert
from storage.types import utcnow


async def chat_conversations(session: AsyncSession, chat_id: int) -> list[Conversation]:
    """Every person's row in the chat (one in a private chat): an update needs its own row, and in a group
    the others' rows tell whose prompt a reply or a press belongs to."""
    rows = await session.execute(select(Conversation).where(Conversation.chat_id == chat_id))
    return list(rows.scalars())


# Built once (it runs for every update): a statement object keeps its cache key, so neither building it nor
# SQLAlchemy's compiled-statement cache lookup key is redone per call.
_CHAT_WITH_CONVERSATIONS = (
    select(Chat, Conversation)
    .outerjoin(Conversation, Conversation.chat_id == Chat.id)  # type: ignore[arg-type]
    .where(Chat.id == bindparam("chat_id"))
)


async def chat_with_conversations(
    session: AsyncSession, chat_id: int
) -> tuple[Chat | None, list[Conversation]]:
    """The chat's row and every conversation row of the chat, in one query (None: no such chat yet)."""
    rows = await session.execute(_CHAT_WITH_CONVERSATIONS, {"chat_id": chat_id})
    chat: Chat | None = None
    conversations = []
    for found_chat, conversation in rows.all():
        chat = found_chat
        if conversation is not None:
            conversations.append(conversation)
    return chat, conversations


async def save_conversation(
    session: AsyncSession,
    chat_id: int,
    user_id: int,
    *,
    flow: str | None,
    step: str | None,
    data: dict[str, Any],
    deadline: datetime | None,
) -> None:
    """Insert or replace the row (data must be JSON)."""
    values = {"flow": flow, "step": step, "data": data, "deadline": deadline, "updated_at": utcnow()}
    stmt = dialect_insert(session, Conversation).values(chat_id=chat_id, user_id=user_id, **values)
    await session.execute(stmt.on_conflict_do_update(index_elements=["chat_id", "user_id"], set_=values))


async def delete_conversation(session: AsyncSession, chat_id: int, user_id: int) -> None:
    await session.execute(
        delete(Conversation).where(Conversation.chat_id == chat_id, Conversation.user_id == user_id),
        execution_options={"synchronize_session": False},
    )


async def purge_conversations(session: AsyncSession, before: datetime) -> int:
    """Housekeeping: rows untouched since `before` whose flow is over, or was due before then (the person
    never came back: the expiry notice is not worth keeping the row for)."""
    stale = or_(Conversation.flow.is_(None), Conversation.deadline < before)  # type: ignore[union-attr,operator]
    result = await session.execute(
        delete(Conversation).where(stale, Conversation.updated_at < before),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0) or 0)

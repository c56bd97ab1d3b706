"""Conversation rows: one per (chat, person), written by the update processor (bot/conversation.py)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.models import Chat, Conversation
from storage.repo._util import dialect_insert, dialect_name
from storage.repo.chats import CHAT_COLUMNS, CHAT_TABLE, chat_from_row
from storage.sqlite_driver import inline
from storage.types import utcnow


async def chat_conversations(session: AsyncSession, chat_id: int) -> list[Conversation]:
    """Every person's row in the chat (one in a private chat): an update needs its own row, and in a group
    the others' rows tell whose prompt a reply or a press belongs to."""
    rows = await session.execute(select(Conversation).where(Conversation.chat_id == chat_id))
    return list(rows.scalars())


@dataclass(frozen=True, slots=True)
class ConversationRow:
    """A conversation row as the per-update path reads it (bot/conversation.py)."""

    user_id: int
    flow: str | None
    step: str | None
    data: dict[str, Any]
    deadline: datetime | None


CONVERSATION_TABLE: Table = Conversation.__table__  # type: ignore[attr-defined]
_C = CONVERSATION_TABLE.c
# Core, built once: this runs for every update (a statement object keeps its cache key, so neither building
# it nor SQLAlchemy's compiled-statement cache lookup key is redone per call).
# On SQLite it runs on the event loop's thread (a primary-key read: no hop to the driver's thread).
_CHAT_WITH_CONVERSATIONS = inline(
    select(*CHAT_COLUMNS, _C.user_id, _C.flow, _C.step, _C.data, _C.deadline)
    .select_from(CHAT_TABLE.outerjoin(CONVERSATION_TABLE, _C.chat_id == CHAT_TABLE.c.id))
    .where(CHAT_TABLE.c.id == bindparam("chat_id"))
)
_CHAT_WIDTH = len(CHAT_COLUMNS)


async def chat_with_conversations(
    executor: AsyncSession | AsyncConnection, chat_id: int
) -> tuple[Chat | None, list[ConversationRow]]:
    """The chat's row and every conversation row of the chat, in one query (None: no such chat yet)."""
    rows = (await executor.execute(_CHAT_WITH_CONVERSATIONS, {"chat_id": chat_id})).all()
    if not rows:
        return None, []
    chat = chat_from_row(rows[0][:_CHAT_WIDTH])
    conversations = [
        ConversationRow(*row[_CHAT_WIDTH:])
        for row in rows
        if row[_CHAT_WIDTH] is not None  # user_id
    ]
    return chat, conversations


_SAVE_CONVERSATION: dict[str, Any] = {}  # dialect name -> the statement
_CHANGEABLE = ("flow", "step", "data", "deadline", "updated_at")


async def save_conversation(
    executor: AsyncSession | AsyncConnection,
    chat_id: int,
    user_id: int,
    *,
    flow: str | None,
    step: str | None,
    data: dict[str, Any],
    deadline: datetime | None,
) -> None:
    """Insert or replace the row (data must be JSON)."""
    name = dialect_name(executor)
    stmt = _SAVE_CONVERSATION.get(name)
    if stmt is None:
        keys = ("chat_id", "user_id", *_CHANGEABLE)
        insert = dialect_insert(executor, CONVERSATION_TABLE).values({k: bindparam(k) for k in keys})
        stmt = _SAVE_CONVERSATION[name] = insert.on_conflict_do_update(
            index_elements=["chat_id", "user_id"], set_={k: insert.excluded[k] for k in _CHANGEABLE}
        )
    values = {"flow": flow, "step": step, "data": data, "deadline": deadline, "updated_at": utcnow()}
    await executor.execute(stmt, {"chat_id": chat_id, "user_id": user_id, **values})


_DELETE_CONVERSATION = delete(CONVERSATION_TABLE).where(
    _C.chat_id == bindparam("chat_id"), _C.user_id == bindparam("user_id")
)


async def delete_conversation(executor: AsyncSession | AsyncConnection, chat_id: int, user_id: int) -> None:
    await executor.execute(_DELETE_CONVERSATION, {"chat_id": chat_id, "user_id": user_id})


async def purge_conversations(session: AsyncSession, before: datetime) -> int:
    """Housekeeping: rows untouched since `before` whose flow is over, or was due before then (the person
    never came back: the expiry notice is not worth keeping the row for)."""
    stale = or_(Conversation.flow.is_(None), Conversation.deadline < before)  # type: ignore[union-attr,operator]
    result = await session.execute(
        delete(Conversation).where(stale, Conversation.updated_at < before),
        execution_options={"synchronize_session": False},
    )
    return int(getattr(result, "rowcount", 0) or 0)

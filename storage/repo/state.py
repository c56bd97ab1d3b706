"""Key-value rows for python-telegram-bot's persistence (user_data, chat_data, bot_data, conversations,
callback_data). Keys are text: the persistence class decides how it writes ids and conversation keys."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import PtbState
from storage.repo._util import dialect_insert
from storage.types import utcnow

KINDS = frozenset({"user_data", "chat_data", "bot_data", "conversations", "callback_data"})


def _check(kind: str) -> None:
    # Conversations are stored as "conversations:<handler name>" by some persistence designs: allow a suffix.
    if kind.split(":", 1)[0] not in KINDS:
        raise ValueError(f"unknown persistence kind: {kind!r}")


async def load_state(session: AsyncSession, kind: str) -> dict[str, Any]:
    """key -> data for one kind."""
    _check(kind)
    rows = await session.execute(select(PtbState.key, PtbState.data).where(PtbState.kind == kind))
    return {key: data for key, data in rows.all()}


async def save_state(session: AsyncSession, kind: str, key: str, data: Any) -> None:
    """Insert or replace (JSON-serializable data)."""
    _check(kind)
    stmt = dialect_insert(session, PtbState).values(kind=kind, key=key, data=data, updated_at=utcnow())
    stmt = stmt.on_conflict_do_update(
        index_elements=["kind", "key"],
        set_={"data": stmt.excluded.data, "updated_at": stmt.excluded.updated_at},
    )
    await session.execute(stmt)


async def delete_state(session: AsyncSession, kind: str, key: str) -> None:
    _check(kind)
    await session.execute(
        delete(PtbState).where(PtbState.kind == kind, PtbState.key == key),
        execution_options={"synchronize_session": False},
    )

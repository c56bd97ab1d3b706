"""Chats: one row per Telegram chat that talked to the bot."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.models import Account, Chat, Conversation, Favorite, Order, Outbox, Refill
from storage.repo._util import dialect_insert, dialect_name
from storage.types import utcnow

UPDATABLE_FIELDS = frozenset(
    {
        "kind",
        "title",
        "language",
        "low_balance_threshold",
        "balance_alert_sent",
        "members_may_order",
        "notifications_enabled",
        "active",
        "last_account_id",
        "threshold_prompt_id",
    }
)


async def get_chat(session: AsyncSession, chat_id: int) -> Chat | None:
    return await session.get(Chat, chat_id)


async def get_or_create_chat(
    session: AsyncSession, chat_id: int, kind: str = "private", title: str | None = None
) -> Chat:
    """The chat's row, created if missing (race-free). An update from a chat means it is reachable again,
    so an inactive chat becomes active; kind and title follow what Telegram says now. Writes nothing when
    nothing changed (on SQLite any write takes the database's write lock until the commit)."""
    chat = await session.get(Chat, chat_id)
    if chat is None:
        await insert_chat(session, chat_id, kind, title)  # or another update inserted it first
        chat = await session.get(Chat, chat_id)  # the session's own object, which the caller may change
        assert chat is not None
    if chat.kind != kind or (title is not None and chat.title != title) or not chat.active:
        chat.kind = kind
        chat.title = title if title is not None else chat.title
        chat.active = True
        await session.flush()
    return chat


# The per-update path (bot/conversation.py) reads and writes the chat row with Core statements on the
# chat table: no ORM unit of work, identity map or per-call statement building for a row read every update.
CHAT_TABLE: Table = Chat.__table__  # type: ignore[attr-defined]
CHAT_COLUMNS = tuple(CHAT_TABLE.c)
_CHAT_KEYS = tuple(column.key for column in CHAT_COLUMNS)


def chat_from_row(values: Sequence[Any]) -> Chat:
    """A Chat (not attached to any session) from the values of CHAT_COLUMNS, in their order."""
    return Chat(**dict(zip(_CHAT_KEYS, values, strict=True)))


_INSERT_CHAT: dict[str, Any] = {}  # dialect name -> the statement


async def insert_chat(
    executor: AsyncSession | AsyncConnection, chat_id: int, kind: str, title: str | None
) -> Chat | None:
    """A new chat's row, inserted and read back in one statement; None when the row exists already (another
    update or instance inserted it first)."""
    name = dialect_name(executor)
    stmt = _INSERT_CHAT.get(name)
    if stmt is None:  # built once per backend (every new chat runs it)
        stmt = _INSERT_CHAT[name] = (
            dialect_insert(executor, CHAT_TABLE)
            .values(
                id=bindparam("id"),
                kind=bindparam("kind"),
                title=bindparam("title"),
                active=True,
                created_at=bindparam("now"),
                updated_at=bindparam("now"),
            )
            .on_conflict_do_nothing(index_elements=["id"])
            .returning(*CHAT_COLUMNS)
        )
    params = {"id": chat_id, "kind": kind, "title": title, "now": utcnow()}
    row = (await executor.execute(stmt, params)).first()
    return None if row is None else chat_from_row(row)


_REFRESH_CHAT = (
    update(CHAT_TABLE)
    .where(CHAT_TABLE.c.id == bindparam("chat_id"))
    .values(kind=bindparam("kind"), title=bindparam("title"), active=True, updated_at=bindparam("now"))
    .returning(*CHAT_COLUMNS)
)


async def refresh_chat(
    executor: AsyncSession | AsyncConnection, chat: Chat, kind: str, title: str | None
) -> Chat:
    """The chat as Telegram describes it now: kind and title (a None title keeps the stored one), and
    active again (an update came from it). Writes only when something differs."""
    new_title = title if title is not None else chat.title
    if chat.kind == kind and chat.title == new_title and chat.active:
        return chat
    params = {"chat_id": chat.id, "kind": kind, "title": new_title, "now": utcnow()}
    row = (await executor.execute(_REFRESH_CHAT, params)).first()
    return chat if row is None else chat_from_row(row)


async def update_chat(session: AsyncSession, chat_id: int, **fields: Any) -> Chat | None:
    """Set some of UPDATABLE_FIELDS; None when the chat does not exist."""
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise ValueError(f"cannot update chat fields: {sorted(unknown)}")
    chat = await session.get(Chat, chat_id)
    if chat is None:
        return None
    for name, value in fields.items():
        setattr(chat, name, value)
    chat.updated_at = utcnow()
    await session.flush()
    return chat


async def set_chat_active(session: AsyncSession, chat_id: int, active: bool) -> bool:
    """False when the chat does not exist."""
    chat = await session.get(Chat, chat_id)
    if chat is None:
        return False
    chat.active = active
    await session.flush()
    return True


async def active_chat_ids(session: AsyncSession) -> list[int]:
    return list((await session.scalars(select(Chat.id).where(Chat.active.is_(True)).order_by(Chat.id))).all())


async def count_chats(session: AsyncSession, active_only: bool = False) -> int:
    stmt = select(func.count()).select_from(Chat)
    if active_only:
        stmt = stmt.where(Chat.active.is_(True))
    return int((await session.scalar(stmt)) or 0)


async def migrate_chat_id(session: AsyncSession, old_id: int, new_id: int) -> Chat | None:
    """A group became a supergroup: move the chat's settings, accounts, orders, refills and pending messages
    to the new id (conversations in progress end). An account already linked in the new chat with the same
    key absorbs the old one's orders. The old row is deleted. Returns the new chat (None when the old one is
    unknown)."""
    old = await session.get(Chat, old_id)
    if old is None:
        return await session.get(Chat, new_id)
    new = await session.get(Chat, new_id)
    if new is None:
        new = Chat(id=new_id, **{f: getattr(old, f) for f in UPDATABLE_FIELDS}, created_at=old.created_at)
        new.kind = "supergroup"
        session.add(new)
        await session.flush()
    existing = {
        (a.panel_url, a.key_fingerprint): a
        for a in (await session.scalars(select(Account).where(Account.chat_id == new_id))).all()
    }
    has_default = any(a.is_default and a.removed_at is None for a in existing.values())
    for account in (await session.scalars(select(Account).where(Account.chat_id == old_id))).all():
        twin = existing.get((account.panel_url, account.key_fingerprint))
        if twin is not None:
            await session.execute(
                update(Order).where(Order.account_id == account.id).values(account_id=twin.id)
            )
            await session.execute(delete(Favorite).where(Favorite.account_id == account.id))
            await session.delete(account)
            continue
        account.chat_id = new_id
        if account.is_default and account.removed_at is None:
            account.is_default = not has_default
            has_default = True
    await session.flush()
    for model in (Order, Refill, Outbox, Favorite):
        await session.execute(update(model).where(model.chat_id == old_id).values(chat_id=new_id))
    # wizards in progress point at the old group's messages: they end (people start again in the new one)
    await session.execute(delete(Conversation).where(Conversation.chat_id == old_id))
    await session.delete(old)
    await session.flush()
    return new


async def chats_by_ids(session: AsyncSession, ids: Iterable[int]) -> dict[int, Chat]:
    """id -> chat for the given ids (unknown ids are left out)."""
    wanted = list({int(i) for i in ids})
    if not wanted:
        return {}
    return {c.id: c for c in (await session.scalars(select(Chat).where(Chat.id.in_(wanted)))).all()}


async def set_balance_alert_sent(session: AsyncSession, chat_id: int, sent: bool) -> bool:
    """Flip chat.balance_alert_sent to `sent` if it is not that already; True when this call flipped it.
    One conditional UPDATE: of two concurrent checks that both see a low balance, only one alerts."""
    result = await session.execute(
        update(Chat)
        .where(Chat.id == chat_id, Chat.balance_alert_sent.is_(not sent))
        .values(balance_alert_sent=sent, updated_at=utcnow()),
        execution_options={"synchronize_session": "fetch"},
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]

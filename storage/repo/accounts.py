"""Panel accounts linked to a chat. Keys arrive here already encrypted (storage never sees the secret)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from sqlalchemy import bindparam, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, Chat, Favorite, Order
from storage.types import utcnow


class AccountExistsError(Exception):
    """The same key (by fingerprint) is already linked to this chat and panel."""

    def __init__(self, account: Account) -> None:
        super().__init__(f"this key is already linked to the chat (account {account.id})")
        self.account = account


async def add_account(
    session: AsyncSession,
    chat_id: int,
    panel_url: str,
    key_encrypted: str,
    key_fingerprint: str,
    *,
    label: str | None = None,
    currency: str | None = None,
    make_default: bool = False,
) -> Account:
    """Link a key. The chat's first account becomes its default. A key that was linked, then removed, revives
    its old row (its orders are tracked again). Raises AccountExistsError when it is linked already."""
    same = await session.scalar(
        select(Account).where(
            Account.chat_id == chat_id,
            Account.panel_url == panel_url,
            Account.key_fingerprint == key_fingerprint,
        )
    )
    if same is not None and same.removed_at is None:
        raise AccountExistsError(same)
    has_default = await session.scalar(
        select(
            exists().where(
                Account.chat_id == chat_id, Account.is_default.is_(True), Account.removed_at.is_(None)
            )
        )
    )
    if same is None:
        same = Account(
            chat_id=chat_id, panel_url=panel_url, key_encrypted="", key_fingerprint=key_fingerprint
        )
        session.add(same)
    same.key_encrypted = key_encrypted
    same.label = label if label is not None else same.label
    same.currency = currency if currency is not None else same.currency
    same.removed_at = None
    same.is_default = False
    await session.flush()
    if make_default or not has_default:
        await set_default_account(session, chat_id, same.id)  # type: ignore[arg-type]
    return same


# Built once: most updates list the chat's accounts (see conversations.py _CHAT_WITH_CONVERSATIONS)
_LIST_ACCOUNTS = (
    select(Account)
    .where(Account.chat_id == bindparam("chat_id"), Account.removed_at.is_(None))
    .order_by(Account.is_default.desc(), Account.id)
)


async def list_accounts(session: AsyncSession, chat_id: int) -> list[Account]:
    """The chat's linked accounts, the default first."""
    return list((await session.scalars(_LIST_ACCOUNTS, {"chat_id": chat_id})).all())


async def get_account(session: AsyncSession, account_id: int, chat_id: int | None = None) -> Account | None:
    """A linked account (removed ones are None); with chat_id, only if it belongs to that chat."""
    account = await session.get(Account, account_id)
    if account is None or account.removed_at is not None:
        return None
    if chat_id is not None and account.chat_id != chat_id:
        return None
    return account


async def get_default_account(session: AsyncSession, chat_id: int) -> Account | None:
    accounts = await list_accounts(session, chat_id)
    return accounts[0] if accounts else None


async def set_default_account(session: AsyncSession, chat_id: int, account_id: int) -> bool:
    """Make one account the chat's default (and no other). False if it is not a linked account of the chat."""
    if await get_account(session, account_id, chat_id) is None:
        return False
    for account in (await session.scalars(select(Account).where(Account.chat_id == chat_id))).all():
        account.is_default = account.id == account_id
    await session.flush()
    return True


async def remove_account(session: AsyncSession, account_id: int, chat_id: int | None = None) -> bool:
    """Unlink. Without orders the row goes; with orders it stays for the history, its key emptied (the
    encrypted key is not kept after the user unlinked it) and its orders no longer polled."""
    account = await get_account(session, account_id, chat_id)
    if account is None:
        return False
    was_default = account.is_default
    await session.execute(
        delete(Favorite).where(Favorite.account_id == account.id),
        execution_options={"synchronize_session": False},
    )
    has_orders = await session.scalar(select(exists().where(Order.account_id == account.id)))
    if has_orders:
        account.removed_at = utcnow()
        account.key_encrypted = ""
        account.is_default = False
    else:
        await session.delete(account)
    await session.flush()
    if was_default:
        remaining = await list_accounts(session, account.chat_id)
        if remaining:
            remaining[0].is_default = True
            await session.flush()
    return True


LABEL_MAX = 32


async def rename_account(
    session: AsyncSession, account_id: int, chat_id: int, label: str | None
) -> Account | None:
    """Set (or, with None or blank, clear) a linked account's label, at most LABEL_MAX characters, one
    line. None when it is not a linked account of the chat."""
    account = await get_account(session, account_id, chat_id)
    if account is None:
        return None
    cleaned = " ".join((label or "").split())[:LABEL_MAX]
    account.label = cleaned or None
    await session.flush()
    return account


async def record_balance(
    session: AsyncSession, account_id: int, amount: Decimal, currency: str | None
) -> Account | None:
    account = await session.get(Account, account_id)
    if account is None:
        return None
    account.last_balance = amount
    if currency:
        account.currency = currency
    account.balance_checked_at = utcnow()
    await session.flush()
    return account


async def accounts_to_check(session: AsyncSession) -> list[Account]:
    """Linked accounts of active chats: what the balance job looks at."""
    stmt = (
        select(Account)
        .join(Chat, Chat.id == Account.chat_id)
        .where(Account.removed_at.is_(None), Chat.active.is_(True))
        .order_by(Account.id)
    )
    return list((await session.scalars(stmt)).all())


async def accounts_with_alerts(session: AsyncSession) -> list[tuple[Account, Chat]]:
    """Linked accounts of active chats that have a low-balance threshold, with their chat."""
    stmt = (
        select(Account, Chat)
        .join(Chat, Chat.id == Account.chat_id)
        .where(Account.removed_at.is_(None), Chat.active.is_(True), Chat.low_balance_threshold.is_not(None))
        .order_by(Account.id)
    )
    return [(account, chat) for account, chat in (await session.execute(stmt)).all()]


async def count_accounts(session: AsyncSession, active_only: bool = True) -> int:
    """Linked (not removed) accounts; with active_only, only those of chats that still have the bot."""
    stmt = select(func.count()).select_from(Account).where(Account.removed_at.is_(None))
    if active_only:
        stmt = stmt.join(Chat, Chat.id == Account.chat_id).where(Chat.active.is_(True))
    return int((await session.scalar(stmt)) or 0)


async def accounts_by_ids(session: AsyncSession, ids: Iterable[int]) -> dict[int, Account]:
    """id -> account (removed ones included: the caller decides), for the given ids."""
    wanted = list({int(i) for i in ids})
    if not wanted:
        return {}
    rows = (await session.scalars(select(Account).where(Account.id.in_(wanted)))).all()
    return {a.id: a for a in rows if a.id is not None}

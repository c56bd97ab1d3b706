"""Chats and accounts, including a group's migration to a supergroup."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Account
from storage.repo import accounts, chats, orders, outbox, refills
from storage.types import utcnow
from tests.storage.helpers import PANEL, make_placed


async def test_get_or_create_chat(session: AsyncSession) -> None:
    chat = await chats.get_or_create_chat(session, -100, "group", "Team")
    assert (chat.kind, chat.title, chat.active, chat.members_may_order) == ("group", "Team", True, False)
    assert chat.language is None and chat.notifications_enabled
    await chats.set_chat_active(session, -100, False)
    again = await chats.get_or_create_chat(session, -100, "group", "Team renamed")
    assert again is chat and again.title == "Team renamed" and again.active
    assert await chats.count_chats(session) == 1
    assert await chats.set_chat_active(session, 5, False) is False


async def test_get_or_create_chat_concurrently(session_factory: async_sessionmaker[AsyncSession]) -> None:
    async def create() -> None:
        async with session_factory() as s:
            await chats.get_or_create_chat(s, 42, "private")
            await s.commit()

    await asyncio.gather(create(), create(), create())
    async with session_factory() as s:
        assert await chats.count_chats(s) == 1


async def test_update_chat(session: AsyncSession) -> None:
    await chats.get_or_create_chat(session, 1)
    chat = await chats.update_chat(session, 1, language="ru", low_balance_threshold=Decimal("5.5"))
    assert chat is not None and chat.language == "ru" and chat.low_balance_threshold == Decimal("5.5")
    with pytest.raises(ValueError, match="id"):
        await chats.update_chat(session, 1, id=2)
    assert await chats.update_chat(session, 2, language="en") is None
    await chats.set_chat_active(session, 1, False)
    assert await chats.active_chat_ids(session) == []


async def test_accounts_lifecycle(session: AsyncSession) -> None:
    await chats.get_or_create_chat(session, 1)
    first = await accounts.add_account(session, 1, PANEL, "enc1", "fp1", label="main", currency="USD")
    second = await accounts.add_account(session, 1, PANEL, "enc2", "fp2")
    assert first.is_default and not second.is_default
    with pytest.raises(accounts.AccountExistsError):
        await accounts.add_account(session, 1, PANEL, "enc1-again", "fp1")
    assert await accounts.set_default_account(session, 1, second.id)  # type: ignore[arg-type]
    assert [a.id for a in await accounts.list_accounts(session, 1)] == [second.id, first.id]
    assert await accounts.get_account(session, first.id, chat_id=2) is None  # type: ignore[arg-type]
    updated = await accounts.record_balance(session, first.id, Decimal("12.30"), "USD")  # type: ignore[arg-type]
    assert updated is not None and updated.last_balance == Decimal("12.3") and updated.balance_checked_at

    # an account without orders is deleted; the default moves on
    assert await accounts.remove_account(session, second.id)  # type: ignore[arg-type]
    assert [a.id for a in await accounts.list_accounts(session, 1)] == [first.id]
    assert (await accounts.get_default_account(session, 1)).id == first.id  # type: ignore[union-attr]


async def test_removed_account_with_orders_is_kept_and_revived(
    session: AsyncSession, account: Account
) -> None:
    order = await make_placed(session, account, 1)
    assert await accounts.remove_account(session, account.id)  # type: ignore[arg-type]
    assert account.removed_at is not None and account.key_encrypted == ""
    assert await accounts.list_accounts(session, account.chat_id) == []
    assert await accounts.get_account(session, account.id) is None  # type: ignore[arg-type]
    assert await accounts.remove_account(session, account.id) is False  # type: ignore[arg-type]
    revived = await accounts.add_account(session, account.chat_id, PANEL, "enc-new", account.key_fingerprint)
    assert revived.id == account.id and revived.key_encrypted == "enc-new" and revived.is_default
    assert (await orders.get_order(session, order.id)).account_id == revived.id  # type: ignore[union-attr, arg-type]


async def test_accounts_to_check(session: AsyncSession, account: Account) -> None:
    await chats.get_or_create_chat(session, 2)
    other = await accounts.add_account(session, 2, PANEL, "e", "fp9")
    assert [a.id for a in await accounts.accounts_to_check(session)] == [account.id, other.id]
    await chats.set_chat_active(session, 2, False)
    assert [a.id for a in await accounts.accounts_to_check(session)] == [account.id]


async def test_migrate_chat_id(session: AsyncSession) -> None:
    old, new = -1001, -100999
    await chats.get_or_create_chat(session, old, "group", "Team")
    await chats.update_chat(session, old, language="de", members_may_order=True)
    kept = await accounts.add_account(session, old, PANEL, "e1", "fp1")
    twin_old = await accounts.add_account(session, old, PANEL, "e2", "fp2")
    order_kept = await make_placed(session, kept, 1)
    order_twin = await make_placed(session, twin_old, 2)
    refill = await refills.create_refill(session, order_kept.id, old, 7)  # type: ignore[arg-type]
    await outbox.enqueue(session, old, "hello", dedupe_key="m1")
    # the supergroup already exists and linked the second key on its own
    await chats.get_or_create_chat(session, new, "supergroup", "Team")
    twin_new = await accounts.add_account(session, new, PANEL, "e2", "fp2")
    await session.commit()

    chat = await chats.migrate_chat_id(session, old, new)
    await session.commit()
    session.expunge_all()
    assert chat is not None and chat.id == new
    assert await chats.get_chat(session, old) is None
    listed = await accounts.list_accounts(session, new)
    assert {a.id for a in listed} == {kept.id, twin_new.id}
    assert sum(a.is_default for a in listed) == 1
    assert (await orders.get_order(session, order_kept.id)).chat_id == new  # type: ignore[union-attr, arg-type]
    moved_twin = await orders.get_order(session, order_twin.id)  # type: ignore[arg-type]
    assert moved_twin is not None and moved_twin.chat_id == new and moved_twin.account_id == twin_new.id
    assert (await refills.get_refill(session, refill.id)).chat_id == new  # type: ignore[union-attr, arg-type]
    assert [m.chat_id for m in await outbox.due_messages(session, utcnow() + timedelta(days=1))] == [new]


async def test_migrate_chat_id_to_a_new_row(session: AsyncSession) -> None:
    await chats.get_or_create_chat(session, -5, "group", "G")
    await chats.update_chat(session, -5, language="it", low_balance_threshold=Decimal("3"))
    chat = await chats.migrate_chat_id(session, -5, -1005)
    assert chat is not None
    assert (chat.kind, chat.title, chat.language, chat.low_balance_threshold) == ("supergroup", "G", "it", 3)
    assert await chats.migrate_chat_id(session, -5, -1005) is chat  # twice: nothing more to do

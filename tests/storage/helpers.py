"""Helpers for the storage tests: a chat with an account, drafts, placed orders."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account, Order
from storage.repo import accounts, chats, orders

PANEL = "https://panel.example/api/v2"


async def make_account(session: AsyncSession, chat_id: int = 100, fingerprint: str = "fp1") -> Account:
    await chats.get_or_create_chat(session, chat_id, "private", "someone")
    return await accounts.add_account(session, chat_id, PANEL, "encrypted", fingerprint)


async def make_draft(session: AsyncSession, account: Account, **overrides: object) -> Order:
    values: dict[str, object] = {
        "chat_id": account.chat_id,
        "account_id": account.id,
        "placed_by": 7,
        "service_id": 1,
        "service_name": "Followers",
        "link": "https://instagram.com/x",
        "quantity": 1000,
        "price": Decimal("0.9"),
        "currency": "USD",
    }
    values.update(overrides)
    return await orders.create_draft(session, **values)  # type: ignore[arg-type]


async def make_placed(
    session: AsyncSession, account: Account, panel_order_id: int, **overrides: object
) -> Order:
    draft = await make_draft(session, account, **overrides)
    draft.placement = "sending"
    await session.flush()
    placed = await orders.mark_placed(session, draft.id, panel_order_id)  # type: ignore[arg-type]
    assert placed is not None
    return placed

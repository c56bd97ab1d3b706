"""Mass orders: batches of ordinary drafts that share a confirm-token prefix."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Order, Placement

# A mass order is a set of ordinary drafts whose confirm tokens share a prefix, the batch id; the rest of a
# token is the input line number. Each line is still claimed on its own (orders.claim_draft_for_sending).

BATCH_ID_LENGTH = 10  # + 6 digits of line number = 16, the width of confirm_token


def new_batch_id() -> str:
    return secrets.token_urlsafe(8)[:BATCH_ID_LENGTH]  # 60 random bits


def batch_token(batch_id: str, line: int) -> str:
    return f"{batch_id}{line:06d}"


async def create_drafts(session: AsyncSession, drafts: list[dict[str, Any]]) -> list[Order]:
    """Several drafts in one flush; each dict holds Order columns, its confirm_token included."""
    orders = [Order(**{**draft, "placement": Placement.drafted}) for draft in drafts]
    session.add_all(orders)
    await session.flush()
    return orders


def _in_batch(batch_id: str, chat_id: int) -> list[Any]:
    # substr, not LIKE: exact and case-sensitive on SQLite and PostgreSQL alike, no wildcard escaping
    prefix = func.substr(Order.confirm_token, 1, BATCH_ID_LENGTH)
    return [Order.chat_id == chat_id, prefix == batch_id[:BATCH_ID_LENGTH]]


async def batch_orders(session: AsyncSession, batch_id: str, chat_id: int) -> list[Order]:
    """The orders of a mass order, fresh from the database, by line."""
    stmt = (
        select(Order)
        .where(*_in_batch(batch_id, chat_id))
        .order_by(Order.confirm_token)
        .execution_options(populate_existing=True)
    )
    return list((await session.scalars(stmt)).all())


async def discard_batch(session: AsyncSession, batch_id: str, chat_id: int) -> int:
    """Delete the lines of a mass order that are still drafts; how many."""
    result = await session.execute(
        delete(Order).where(*_in_batch(batch_id, chat_id), Order.placement == Placement.drafted),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount  # type: ignore[attr-defined]

"""What a chat spent: the charges of its placed orders, per day (the Mini App's chart)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Order, Placement


async def spend_per_day(
    session: AsyncSession, chat_id: int, since: datetime, account_id: int | None = None
) -> dict[tuple[date, str], Decimal]:
    """(UTC day, currency) -> sum of the panel's charge (our price when the panel gave none) of the orders
    placed since `since`. Summed here, in Decimal: 30 days of rows are few; SQLite has no exact sum."""
    when = func.coalesce(Order.placed_at, Order.created_at)
    stmt = select(when, Order.charge, Order.price, Order.currency).where(
        Order.chat_id == chat_id, Order.placement == Placement.placed, when >= since
    )
    if account_id is not None:
        stmt = stmt.where(Order.account_id == account_id)
    totals: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for at, charge, price, currency in (await session.execute(stmt)).all():
        amount = charge if charge is not None else price
        if amount is not None:
            totals[(at.date(), currency or "")] += Decimal(amount)
    return dict(totals)

"""Refills of placed orders: the same placement states as orders, without a draft step."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import FINAL_REFILL_STATUSES, Order, Placement, Refill, is_final_refill_status
from storage.types import utcnow


async def create_refill(session: AsyncSession, order_id: int, chat_id: int, requested_by: int) -> Refill:
    """A refill in `sending`: commit it before calling the panel, like an order."""
    refill = Refill(
        order_id=order_id, chat_id=chat_id, requested_by=requested_by, placement=Placement.sending
    )
    session.add(refill)
    await session.flush()
    return refill


async def get_refill(session: AsyncSession, refill_id: int, chat_id: int | None = None) -> Refill | None:
    refill = await session.get(Refill, refill_id)
    if refill is None or (chat_id is not None and refill.chat_id != chat_id):
        return None
    return refill


async def _transition(
    session: AsyncSession, refill_id: int, allowed: Iterable[str], **values: Any
) -> Refill | None:
    refill = await session.get(Refill, refill_id, populate_existing=True)
    if refill is None or refill.placement not in set(allowed):
        return None
    for name, value in values.items():
        setattr(refill, name, value)
    refill.updated_at = utcnow()
    await session.flush()
    return refill


async def mark_refill_placed(
    session: AsyncSession, refill_id: int, panel_refill_id: int, next_poll_at: datetime | None = None
) -> Refill | None:
    return await _transition(
        session,
        refill_id,
        (Placement.sending, Placement.unclear),
        placement=Placement.placed,
        panel_refill_id=panel_refill_id,
        next_poll_at=next_poll_at or utcnow(),
        error=None,
    )


async def mark_refill_rejected(session: AsyncSession, refill_id: int, error: str) -> Refill | None:
    return await _transition(
        session, refill_id, (Placement.sending,), placement=Placement.rejected, error=error
    )


async def mark_refill_unclear(session: AsyncSession, refill_id: int, reason: str) -> Refill | None:
    return await _transition(
        session, refill_id, (Placement.sending,), placement=Placement.unclear, error=reason
    )


async def refills_for_order(session: AsyncSession, order_id: int) -> list[Refill]:
    """Oldest first."""
    stmt = select(Refill).where(Refill.order_id == order_id).order_by(Refill.id)
    return list((await session.scalars(stmt)).all())


async def lock_order(session: AsyncSession, order_id: int) -> None:
    """Take the order's row lock (PostgreSQL) or the write lock (SQLite) for the rest of the transaction:
    two refill requests of one order, from two instances at once, then check and create one after the
    other. A no-op UPDATE, so it needs no SELECT ... FOR UPDATE support."""
    stmt = update(Order).where(Order.id == order_id).values(updated_at=Order.updated_at)
    await session.execute(stmt, execution_options={"synchronize_session": False})


async def has_refill_in_progress(session: AsyncSession, order_id: int) -> bool:
    """A refill being sent, or placed and not final: a new request would most likely be refused."""
    stmt = select(func.count()).select_from(Refill).where(Refill.order_id == order_id, _open())
    return bool(await session.scalar(stmt))


def _open() -> Any:
    not_final = or_(Refill.status.is_(None), func.lower(Refill.status).not_in(FINAL_REFILL_STATUSES))
    return or_(Refill.placement == Placement.sending, (Refill.placement == Placement.placed) & not_final)


async def due_refills(session: AsyncSession, now: datetime, limit: int = 500) -> list[tuple[Refill, Order]]:
    """Placed refills due for a status poll, with their order (for the account)."""
    stmt = (
        select(Refill, Order)
        .join(Order, Order.id == Refill.order_id)
        .where(
            Refill.placement == Placement.placed,
            Refill.next_poll_at <= now,
            or_(Refill.status.is_(None), func.lower(Refill.status).not_in(FINAL_REFILL_STATUSES)),
        )
        .order_by(Refill.next_poll_at, Refill.id)
        .limit(limit)
    )
    return [(refill, order) for refill, order in (await session.execute(stmt)).all()]


async def apply_refill_status(
    session: AsyncSession, refill: Refill, status: str | None, next_poll_at: datetime | None
) -> bool:
    """Write a poll result; a final status stops polling. Returns whether the status text changed."""
    changed = status is not None and status != refill.status
    if changed:
        refill.status = status
    refill.next_poll_at = None if is_final_refill_status(refill.status) else next_poll_at
    refill.updated_at = utcnow()
    await session.flush()
    return changed


async def mark_refill_notified(session: AsyncSession, refill: Refill, status: str | None) -> None:
    refill.last_notified_status = status
    await session.flush()


async def refills_by_ids(session: AsyncSession, ids: Iterable[int]) -> list[tuple[Refill, Order]]:
    """The refills with these ids and their orders, read fresh from the database."""
    wanted = list({int(i) for i in ids})
    if not wanted:
        return []
    stmt = (
        select(Refill, Order)
        .join(Order, Order.id == Refill.order_id)
        .where(Refill.id.in_(wanted))
        .execution_options(populate_existing=True)
    )
    return [(refill, order) for refill, order in (await session.execute(stmt)).all()]

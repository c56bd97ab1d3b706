"""Order status tracking: what the status tracker writes on an order, and status counts for /stats."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Order, Placement, is_final_order_status
from storage.types import utcnow

_UNSET: Any = object()
# what the status tracker writes (save_polls); nothing else of the row is touched
POLL_COLUMNS = (
    "status",
    "remains",
    "start_count",
    "charge",
    "status_changed_at",
    "progress_at",
    "next_poll_at",
    "error",
    "last_notified_status",
    "updated_at",
)


def apply_poll(
    order: Order,
    now: datetime,
    next_poll_at: datetime | None,
    *,
    status: str | None = None,
    remains: int | None = None,
    start_count: int | None = None,
    charge: Decimal | None = None,
    progressed: bool = False,
    error: str | None = _UNSET,
    notified: bool = False,
) -> None:
    """Set one result of the status tracker on `order`, in memory only (save_polls writes it): None keeps a
    value; `progressed` (the status or the remains changed) sets progress_at; `error` replaces order.error
    when given; `notified` records the status as announced. A final status stops polling."""
    if status is not None and status != order.status:
        order.status = status
        order.status_changed_at = now
    if remains is not None:
        order.remains = remains
    if start_count is not None:
        order.start_count = start_count
    if charge is not None:
        order.charge = charge
    if progressed:
        order.progress_at = now
    if error is not _UNSET:
        order.error = error
    if notified:
        order.last_notified_status = order.status
    order.next_poll_at = None if is_final_order_status(order.status) else next_poll_at
    order.updated_at = utcnow()


async def save_polls(session: AsyncSession, orders: Iterable[Order]) -> None:
    """Write POLL_COLUMNS of these orders (detached objects are fine) in one executemany UPDATE by primary
    key: a chunk of 100 polled orders costs one statement, not 100 flushes."""
    rows = [{"_id": o.id, **{c: getattr(o, c) for c in POLL_COLUMNS}} for o in orders if o.id is not None]
    if rows:
        await session.execute(_SAVE_POLL, rows)


_table: Any = Order.__table__  # type: ignore[attr-defined]
# Core rather than ORM bulk UPDATE: one statement compiled once, less CPU per row
_SAVE_POLL = (
    update(_table).where(_table.c.id == bindparam("_id")).values({c: bindparam(c) for c in POLL_COLUMNS})
)


async def status_counts(session: AsyncSession) -> dict[str | None, int]:
    """Panel status -> number of placed orders (None: no status seen yet), for /stats."""
    stmt = (
        select(Order.status, func.count()).where(Order.placement == Placement.placed).group_by(Order.status)
    )
    return {status: int(n) for status, n in (await session.execute(stmt)).all()}

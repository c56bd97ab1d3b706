"""Orders: drafts, the exactly-once claim, placement results, listing (see also polls, batches)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import (
    FINAL_ORDER_STATUSES,
    Account,
    Order,
    Placement,
    Refill,
    is_final_order_status,
)
from storage.types import utcnow

TOKEN_BYTES = 9  # 12 url-safe characters: short enough for callback_data, 72 bits against guessing


def new_confirm_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


async def create_draft(
    session: AsyncSession,
    *,
    chat_id: int,
    account_id: int,
    placed_by: int,
    service_id: int,
    price: Decimal,
    service_name: str = "",
    service_type: str = "Default",
    link: str | None = None,
    quantity: int | None = None,
    fields: dict[str, Any] | None = None,
    currency: str | None = None,
    refill_allowed: bool = False,
    cancel_allowed: bool = False,
) -> Order:
    """A stored draft with a fresh confirm_token, for the summary's Confirm button."""
    order = Order(
        chat_id=chat_id,
        account_id=account_id,
        placed_by=placed_by,
        confirm_token=new_confirm_token(),
        placement=Placement.drafted,
        service_id=service_id,
        service_name=service_name,
        service_type=service_type,
        link=link,
        quantity=quantity,
        fields=dict(fields or {}),
        price=price,
        currency=currency,
        refill_allowed=refill_allowed,
        cancel_allowed=cancel_allowed,
    )
    session.add(order)
    await session.flush()
    return order


async def claim_draft_for_sending(
    session: AsyncSession, token: str, chat_id: int | None = None
) -> Order | None:
    """Move the draft with this token from `drafted` to `sending` and COMMIT; None if it is not (or no longer)
    a draft. One atomic conditional UPDATE: of two presses, concurrent or not, exactly one gets the order.

    Whatever the session had pending is committed first, so that the claim is a transaction of its own.
    """
    await session.commit()
    stmt = update(Order).where(Order.confirm_token == token, Order.placement == Placement.drafted)
    if chat_id is not None:
        stmt = stmt.where(Order.chat_id == chat_id)
    stmt = stmt.values(placement=Placement.sending, updated_at=utcnow()).returning(Order.id)
    result = await session.execute(stmt, execution_options={"synchronize_session": False})
    order_id = result.scalar_one_or_none()
    await session.commit()
    if order_id is None:
        return None
    return await session.get(Order, order_id, populate_existing=True)


async def discard_draft(session: AsyncSession, token: str, chat_id: int | None = None) -> bool:
    """Delete a draft that was never confirmed (the user edited or cancelled it), so that its Confirm button
    can no longer place it. Only `drafted` rows go; False when there was none."""
    stmt = delete(Order).where(Order.confirm_token == token, Order.placement == Placement.drafted)
    if chat_id is not None:
        stmt = stmt.where(Order.chat_id == chat_id)
    result = await session.execute(stmt, execution_options={"synchronize_session": False})
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _transition(
    session: AsyncSession, order_id: int, allowed: Iterable[str], **values: Any
) -> Order | None:
    order = await session.get(Order, order_id, populate_existing=True)
    if order is None or order.placement not in set(allowed):
        return None
    for name, value in values.items():
        setattr(order, name, value)
    order.updated_at = utcnow()
    await session.flush()
    return order


async def mark_placed(
    session: AsyncSession,
    order_id: int,
    panel_order_id: int,
    charge: Decimal | None = None,
    currency: str | None = None,
    next_poll_at: datetime | None = None,
) -> Order | None:
    """The panel answered with an id (from `sending`, or `unclear` if found later). None if not allowed."""
    now = utcnow()
    values: dict[str, Any] = {
        "placement": Placement.placed,
        "panel_order_id": panel_order_id,
        "placed_at": now,
        "next_poll_at": next_poll_at or now,
        "error": None,
    }
    if charge is not None:
        values["charge"] = charge
    if currency:
        values["currency"] = currency
    return await _transition(session, order_id, (Placement.sending, Placement.unclear), **values)


async def mark_rejected(session: AsyncSession, order_id: int, error: str) -> Order | None:
    return await _transition(
        session, order_id, (Placement.sending,), placement=Placement.rejected, error=error
    )


async def mark_unclear(session: AsyncSession, order_id: int, reason: str) -> Order | None:
    return await _transition(
        session, order_id, (Placement.sending,), placement=Placement.unclear, error=reason
    )


async def mark_stale_sending_as_unclear(
    session: AsyncSession, reason: str = "interrupted by a restart", older_than: datetime | None = None
) -> int:
    """Orders and refills still `sending` become `unclear`. With `older_than`, only rows that have been
    sending since before it: another instance sharing the database may be sending the newer ones right now.
    Returns how many."""
    total = 0
    for model in (Order, Refill):
        stale = model.placement == Placement.sending
        if older_than is not None:
            stale = stale & (model.updated_at < older_than)
        result = await session.execute(
            update(model).where(stale).values(placement=Placement.unclear, error=reason, updated_at=utcnow()),
            execution_options={"synchronize_session": "fetch"},
        )
        total += result.rowcount  # type: ignore[attr-defined]
    return total


# Named groups of orders for the list's filters: what is still going on, what completed, what went wrong.
ORDER_FILTERS = ("active", "completed", "problems")
PROBLEM_STATUSES = frozenset({"partial", "canceled", "cancelled", "refunded", "failed"})


def _state_clause(state: str) -> Any:
    status = func.lower(Order.status)
    if state == "active":
        still = or_(Order.status.is_(None), status.not_in(FINAL_ORDER_STATUSES))
        return or_(Order.placement == Placement.sending, (Order.placement == Placement.placed) & still)
    if state == "completed":
        return (Order.placement == Placement.placed) & (status == "completed")
    if state == "problems":
        return or_(
            Order.placement.in_((Placement.unclear, Placement.rejected)),
            (Order.placement == Placement.placed) & status.in_(PROBLEM_STATUSES),
        )
    raise ValueError(f"unknown order filter {state!r}; one of {ORDER_FILTERS}")


def _listed(
    chat_id: int, status: str | None, *, state: str | None = None, account_id: int | None = None
) -> list[Any]:
    where = [Order.chat_id == chat_id, Order.placement != Placement.drafted]
    if status is not None:
        where.append(func.lower(Order.status) == status.strip().lower())
    if state is not None:
        where.append(_state_clause(state))
    if account_id is not None:
        where.append(Order.account_id == account_id)
    return where


async def list_orders(
    session: AsyncSession,
    chat_id: int,
    offset: int = 0,
    limit: int = 10,
    status: str | None = None,
    *,
    state: str | None = None,
    account_id: int | None = None,
) -> list[Order]:
    """The chat's orders (drafts left out), newest first; `status` filters on the panel status, any case;
    `state` on one of ORDER_FILTERS; `account_id` on one account."""
    where = _listed(chat_id, status, state=state, account_id=account_id)
    stmt = select(Order).where(*where).order_by(Order.id.desc()).offset(offset).limit(limit)
    return list((await session.scalars(stmt)).all())


async def count_orders(
    session: AsyncSession,
    chat_id: int,
    status: str | None = None,
    *,
    state: str | None = None,
    account_id: int | None = None,
) -> int:
    where = _listed(chat_id, status, state=state, account_id=account_id)
    stmt = select(func.count()).select_from(Order).where(*where)
    return int((await session.scalar(stmt)) or 0)


# What /export writes: plain columns, not ORM objects (ten times faster to load and read for long histories).
EXPORT_COLUMNS = (
    Order.id,
    Order.created_at,
    Order.panel_order_id,
    Order.placement,
    Order.status,
    Order.service_id,
    Order.service_name,
    Order.link,
    Order.quantity,
    Order.price,
    Order.charge,
    Order.currency,
    Order.start_count,
    Order.remains,
    Order.placed_by,
    Account.panel_url,
)


async def orders_for_export(
    session: AsyncSession,
    chat_id: int,
    *,
    after_id: int = 0,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 1000,
) -> list[Any]:
    """One batch of the chat's orders (drafts left out) created in [since, until), oldest first, from id
    `after_id` on, as rows of EXPORT_COLUMNS (`row.price`, `row.panel_url` ...). Call again with the last
    row's id to read any history in flat memory (keyset paging on the (chat_id, id) index, no OFFSET)."""
    stmt = (
        select(*EXPORT_COLUMNS)
        .join(Account, Account.id == Order.account_id)
        .where(*_listed(chat_id, None), Order.id > after_id)
    )
    if since is not None:
        stmt = stmt.where(Order.created_at >= since)
    if until is not None:
        stmt = stmt.where(Order.created_at < until)
    return list((await session.execute(stmt.order_by(Order.id).limit(limit))).all())


async def get_order(session: AsyncSession, order_id: int, chat_id: int | None = None) -> Order | None:
    """With chat_id: only if the order belongs to that chat (ids typed by users are checked this way)."""
    order = await session.get(Order, order_id)
    if order is None or (chat_id is not None and order.chat_id != chat_id):
        return None
    return order


async def get_order_by_token(session: AsyncSession, token: str) -> Order | None:
    return await session.scalar(select(Order).where(Order.confirm_token == token))


async def get_orders_by_panel_ids(
    session: AsyncSession, account_id: int, ids: Iterable[int]
) -> dict[int, Order]:
    """panel order id -> order, for the given account."""
    wanted = list({int(i) for i in ids})
    if not wanted:
        return {}
    stmt = select(Order).where(Order.account_id == account_id, Order.panel_order_id.in_(wanted))
    return {o.panel_order_id: o for o in (await session.scalars(stmt)).all() if o.panel_order_id is not None}


async def due_orders(session: AsyncSession, now: datetime, limit: int = 500) -> list[Order]:
    """Placed orders due for a status poll (not final; linked account), most overdue first. Orders of a
    chat that blocked the bot are still tracked, quietly (no notices), so their history is right when it
    returns."""
    stmt = (
        select(Order)
        .join(Account, Account.id == Order.account_id)
        .where(
            Order.placement == Placement.placed,
            Order.next_poll_at <= now,
            or_(Order.status.is_(None), func.lower(Order.status).not_in(FINAL_ORDER_STATUSES)),
            Account.removed_at.is_(None),
        )
        .order_by(Order.next_poll_at, Order.id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def apply_status(
    session: AsyncSession,
    order: Order,
    status: str | None,
    remains: int | None,
    start_count: int | None,
    charge: Decimal | None,
    next_poll_at: datetime | None,
) -> bool:
    """Write a poll result (None for status/remains/start_count/charge keeps what we had). A final status
    stops polling whatever next_poll_at says. Returns whether the status text changed."""
    changed = status is not None and status != order.status
    if changed:
        order.status = status
        order.status_changed_at = utcnow()
    if remains is not None:
        order.remains = remains
    if start_count is not None:
        order.start_count = start_count
    if charge is not None:
        order.charge = charge
    order.next_poll_at = None if is_final_order_status(order.status) else next_poll_at
    order.updated_at = utcnow()
    await session.flush()
    return changed


async def mark_notified(session: AsyncSession, order: Order, status: str | None) -> None:
    order.last_notified_status = status
    await session.flush()


async def purge_drafts(session: AsyncSession, older_than: datetime) -> int:
    """Delete drafts never confirmed, created before `older_than`."""
    result = await session.execute(
        delete(Order).where(Order.placement == Placement.drafted, Order.created_at < older_than),
        execution_options={"synchronize_session": False},
    )
    return result.rowcount  # type: ignore[attr-defined]


async def placement_counts(session: AsyncSession) -> dict[str, int]:
    """placement -> number of orders, for /stats."""
    rows = await session.execute(select(Order.placement, func.count()).group_by(Order.placement))
    return {placement: int(n) for placement, n in rows.all()}


async def claim_cancel(session: AsyncSession, order_id: int) -> bool:
    """Mark that a cancel of the order is being sent; False when one was already (one conditional UPDATE:
    of two presses, concurrent or not, exactly one gets True). Commits."""
    await session.commit()
    stmt = (
        update(Order)
        .where(Order.id == order_id, Order.cancel_requested_at.is_(None))  # type: ignore[union-attr]
        .values(cancel_requested_at=utcnow(), updated_at=utcnow())
        .returning(Order.id)
    )
    result = await session.execute(stmt, execution_options={"synchronize_session": False})
    claimed = result.scalar_one_or_none() is not None
    await session.commit()
    return claimed


async def release_cancel(session: AsyncSession, order_id: int) -> None:
    """Forget a cancel that never reached the panel (not sent, or refused), so that it may be asked again."""
    stmt = update(Order).where(Order.id == order_id).values(cancel_requested_at=None, updated_at=utcnow())
    await session.execute(stmt, execution_options={"synchronize_session": False})

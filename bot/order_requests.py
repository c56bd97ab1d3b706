"""What a person can do with an order already placed: refresh its status, request a refill, cancel it, and
look up statuses by panel order id. No Telegram here: handlers render the results.

Refills follow the exactly-once rule of orders: the refill row is committed in `sending` BEFORE the panel is
called; the answer moves it to `placed` or `rejected`; a lost answer makes it `unclear`, never retried by
itself. Sessions are not held open across panel calls (a slow panel must not keep a transaction open).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.durable_writes import WriteFailed, keep_trying_later, write_with_retries
from bot.panel import (
    InvalidKey,
    NotFound,
    OrderStatus,
    OutcomeUnknown,
    PanelClient,
    PanelError,
    PanelUnavailable,
    RateLimited,
    normalize_status,
)
from bot.panels import PanelHub
from bot.tracking import next_poll_time
from storage import repo
from storage.models import Account, Order, Placement, Refill, is_final_refill_status
from storage.types import utcnow

log = logging.getLogger(__name__)

Sessions = async_sessionmaker[AsyncSession]

MAX_STATUS_IDS = 100
# A refresh is a button press: Telegram forgets an unanswered callback query after ~15 s, and the client's
# own retries of a read can take longer than that. Past this budget the panel counts as unreachable.
READ_BUDGET = 10.0
REFILLABLE = frozenset({"Completed", "Partial"})
UNCLEAR_REFILL = "no answer from the panel: the refill may or may not have been requested"
NOT_SENT = "the panel could not be reached; nothing was sent"


class Kind:
    """What came of an action (the handler picks the words)."""

    ok = "ok"
    not_found = "not_found"  # no such order in this chat (stale button, typed id)
    not_placed = "not_placed"  # drafted/sending/unclear/rejected: nothing at the panel to act on
    account_gone = "account_gone"  # the order's panel account was unlinked
    no_refill = "no_refill"  # the service has no refill
    not_completed = "not_completed"  # refills need Completed or Partial
    refill_open = "refill_open"  # a refill of this order is still being sent or worked on
    no_cancel = "no_cancel"  # the service does not allow cancelling
    cancel_requested = "cancel_requested"  # a cancel of this order was sent already (one per order)
    final = "final"  # the order has ended: nothing to cancel
    rejected = "rejected"  # the panel said no (reason in `reason`)
    unclear = "unclear"  # the request may have reached the panel; its answer was lost
    unreachable = "unreachable"  # the panel could not be asked (nothing was sent)
    invalid_key = "invalid_key"
    panel_unknown = "panel_unknown"  # the panel does not know the order id (yet)


@dataclass
class Result:
    kind: str
    order: Order | None = None
    refills: list[Refill] = field(default_factory=list)
    reason: str | None = None  # the panel's words, when it gave any
    refill: Refill | None = None  # the refill this action created
    refreshed: bool = False  # the order's status was read from the panel just now


@dataclass
class IdStatus:
    """One line of /status: the panel's answer for an id, and our order when it is one of ours."""

    panel_order_id: int
    status: OrderStatus | None
    error: PanelError | None
    order: Order | None
    withheld: bool = False  # not an order of this chat, and the asker may only see the chat's own


def parse_order_ids(tokens: Iterable[str]) -> tuple[list[int], list[str]]:
    """Panel order ids from command arguments (spaces or commas), distinct, in order; and ignored tokens."""
    ids: dict[int, None] = {}
    ignored: list[str] = []
    for token in re.split(r"[\s,;]+", " ".join(tokens)):
        token = token.strip().lstrip("#")
        if not token:
            continue
        if token.isascii() and token.isdigit() and 0 < int(token) < 2**63:
            ids.setdefault(int(token), None)
        else:
            ignored.append(token)
    return list(ids), ignored


def panel_reason(exc: PanelError) -> str:
    return (exc.panel_message or exc.message).strip()


async def _load(sessions: Sessions, order_id: int, chat_id: int) -> tuple[Order, Account | None] | None:
    async with sessions() as s:
        order = await repo.orders.get_order(s, order_id, chat_id)
        if order is None:
            return None
        account = await repo.accounts.get_account(s, order.account_id)
        return order, account


async def _refills(sessions: Sessions, order_id: int) -> list[Refill]:
    async with sessions() as s:
        return await repo.refills.refills_for_order(s, order_id)


async def load_order(sessions: Sessions, order_id: int, chat_id: int) -> Result:
    """The order (of this chat) and its refills, as stored."""
    loaded = await _load(sessions, order_id, chat_id)
    if loaded is None:
        return Result(Kind.not_found)
    return Result(Kind.ok, loaded[0], await _refills(sessions, order_id))


async def find_by_panel_id(sessions: Sessions, chat_id: int, panel_order_id: int) -> Order | None:
    """The chat's order with this panel order id (the newest if several accounts share the number)."""
    async with sessions() as s:
        found: list[Order] = []
        for account in await repo.accounts.list_accounts(s, chat_id):
            assert account.id is not None
            order = (await repo.orders.get_orders_by_panel_ids(s, account.id, [panel_order_id])).get(
                panel_order_id
            )
            if order is not None and order.chat_id == chat_id:
                found.append(order)
    return max(found, key=lambda o: o.id or 0) if found else None


async def _placed(sessions: Sessions, order_id: int, chat_id: int) -> tuple[Order, Account, int] | Result:
    """The order with its account and panel order id, or why there is nothing to do at the panel."""
    loaded = await _load(sessions, order_id, chat_id)
    if loaded is None:
        return Result(Kind.not_found)
    order, account = loaded
    if order.placement != Placement.placed or order.panel_order_id is None:
        return Result(Kind.not_placed, order, await _refills(sessions, order_id))
    if account is None:
        return Result(Kind.account_gone, order, await _refills(sessions, order_id))
    return order, account, order.panel_order_id


async def _store_status(sessions: Sessions, order_id: int, status: OrderStatus) -> None:
    async with sessions() as s:
        order = await s.get(Order, order_id, populate_existing=True)
        if order is None:
            return
        await repo.orders.apply_status(
            s, order, status.status, status.remains, status.start_count, status.charge, next_poll_time(order)
        )
        await s.commit()


async def _refresh_refills(sessions: Sessions, client: PanelClient, order_id: int) -> None:
    """Read the status of the order's open refills (one multi call); errors leave them as they were."""
    async with sessions() as s:
        refills = await repo.refills.refills_for_order(s, order_id)
    open_ids = {
        r.panel_refill_id: r.id
        for r in refills
        if r.placement == Placement.placed and r.panel_refill_id and not is_final_refill_status(r.status)
    }
    if not open_ids:
        return
    try:
        async with asyncio.timeout(READ_BUDGET / 2):
            answers = await client.refill_statuses(list(open_ids))
    except (PanelError, TimeoutError):
        return
    async with sessions() as s:
        for panel_refill_id, answer in answers.items():
            refill = await s.get(Refill, open_ids.get(panel_refill_id, 0), populate_existing=True)
            if refill is not None and not isinstance(answer, PanelError):
                poll = utcnow() + timedelta(minutes=5)
                await repo.refills.apply_refill_status(s, refill, answer.status, poll)
        await s.commit()


async def refresh(sessions: Sessions, panels: PanelHub, order_id: int, chat_id: int) -> Result:
    """Read the order's status (and its refills') from the panel and store it. On failure the result still
    carries the stored order, to be shown as the last known state."""
    placed = await _placed(sessions, order_id, chat_id)
    if isinstance(placed, Result):
        return placed
    order, account, pid = placed
    client = panels.client(account)
    kind, reason = Kind.ok, None
    try:
        async with asyncio.timeout(READ_BUDGET):
            status = await client.status(pid)
        await _store_status(sessions, order_id, status)
        await _refresh_refills(sessions, client, order_id)
    except InvalidKey:
        kind = Kind.invalid_key
    except NotFound as exc:
        kind, reason = Kind.panel_unknown, panel_reason(exc)
    except (PanelUnavailable, RateLimited, TimeoutError):
        kind = Kind.unreachable
    except PanelError as exc:
        kind, reason = Kind.rejected, panel_reason(exc)
    stored = await load_order(sessions, order_id, chat_id)
    return Result(kind, stored.order or order, stored.refills, reason, refreshed=kind == Kind.ok)


async def request_refill(
    sessions: Sessions, panels: PanelHub, order_id: int, chat_id: int, user_id: int
) -> Result:
    placed = await _placed(sessions, order_id, chat_id)
    if isinstance(placed, Result):
        return placed
    order, account, pid = placed
    if not order.refill_allowed:
        return Result(Kind.no_refill, order, await _refills(sessions, order_id))
    if normalize_status(order.status or "") not in REFILLABLE:
        # Our stored status may lag behind the panel (the tracker polls at intervals): look once.
        fresh = await refresh(sessions, panels, order_id, chat_id)
        if fresh.kind in (Kind.unreachable, Kind.invalid_key):
            return fresh
        order = fresh.order or order
        if normalize_status(order.status or "") not in REFILLABLE:
            return Result(Kind.not_completed, order, fresh.refills)

    async with sessions() as s:
        await repo.refills.lock_order(s, order_id)  # held until the commit: one request at a time
        if await repo.refills.has_refill_in_progress(s, order_id):
            return Result(Kind.refill_open, order, await repo.refills.refills_for_order(s, order_id))
        refill = await repo.refills.create_refill(s, order_id, chat_id, user_id)
        await s.commit()  # before the panel call: a crash now leaves `sending`, made `unclear` at restart
    refill_id = refill.id
    assert refill_id is not None

    kind, reason, panel_refill_id = Kind.ok, None, 0
    try:
        panel_refill_id = await panels.client(account).refill(pid)
    except OutcomeUnknown:
        kind = Kind.unclear
    except (PanelUnavailable, RateLimited) as exc:  # a write is only "not sent" short of OutcomeUnknown
        kind, reason = Kind.unreachable, panel_reason(exc)
    except InvalidKey as exc:
        kind, reason = Kind.invalid_key, panel_reason(exc)
    except PanelError as exc:
        kind, reason = Kind.rejected, panel_reason(exc)
    except BaseException:
        await _finish_refill(sessions, refill_id, Kind.unclear, None, 0)
        raise
    await _finish_refill(sessions, refill_id, kind, reason, panel_refill_id)

    stored = await load_order(sessions, order_id, chat_id)
    made = next((r for r in stored.refills if r.id == refill_id), None)
    return Result(kind, stored.order or order, stored.refills, reason, refill=made)


async def _finish_refill(
    sessions: Sessions, refill_id: int, kind: str, reason: str | None, panel_refill_id: int
) -> None:
    """Store the panel's answer, retried like an order's (bot/durable_writes.py); the panel's refill id is
    logged first. A row that cannot be written stays `sending` (made `unclear` by the leader later)."""
    what = f"refill {refill_id} ({kind})"
    if kind == Kind.ok:
        what = f"refill {refill_id} accepted as panel refill #{panel_refill_id}"
        log.warning("%s", what)

    async def write(s: AsyncSession) -> None:
        if kind == Kind.ok:
            await repo.refills.mark_refill_placed(s, refill_id, panel_refill_id)
        elif kind == Kind.unclear:
            await repo.refills.mark_refill_unclear(s, refill_id, UNCLEAR_REFILL)
        elif kind == Kind.unreachable:
            await repo.refills.mark_refill_rejected(s, refill_id, NOT_SENT)
        else:
            await repo.refills.mark_refill_rejected(s, refill_id, reason or "refused by the panel")

    try:
        await write_with_retries(sessions, write, what=what)
    except WriteFailed:
        log.error("%s: NOT STORED yet; retrying in the background", what)
        if kind == Kind.ok:
            keep_trying_later(sessions, write, what=what)


def may_cancel(order: Order) -> str | None:
    """Why the order cannot be cancelled now (a Kind), or None."""
    if not order.cancel_allowed:
        return Kind.no_cancel
    if normalize_status(order.status or "") in {"Completed", "Partial", "Canceled", "Refunded", "Failed"}:
        return Kind.final
    if order.cancel_requested_at is not None:
        return Kind.cancel_requested
    return None


async def check_cancel(sessions: Sessions, order_id: int, chat_id: int) -> Result:
    """Whether the confirmation question may be asked (Kind.ok) or why not."""
    placed = await _placed(sessions, order_id, chat_id)
    if isinstance(placed, Result):
        return placed
    why = may_cancel(placed[0])
    return Result(why or Kind.ok, placed[0], await _refills(sessions, order_id))


async def cancel(sessions: Sessions, panels: PanelHub, order_id: int, chat_id: int) -> Result:
    """Ask the panel to cancel (once per order: a second press, or a press on an old confirmation, sends
    nothing; never retried), then read the order's status back."""
    placed = await _placed(sessions, order_id, chat_id)
    if isinstance(placed, Result):
        return placed
    order, account, pid = placed
    why = may_cancel(order)
    if why is None:
        async with sessions() as s:
            if not await repo.orders.claim_cancel(s, order_id):
                why = Kind.cancel_requested  # another press got there between our read and now
    if why is not None:
        return Result(why, order, await _refills(sessions, order_id))
    answer: bool | PanelError | None = OutcomeUnknown("interrupted")  # until answered: maybe sent
    try:
        answer = (await panels.client(account).cancel([pid])).get(pid)
    finally:
        if not isinstance(answer, OutcomeUnknown) and answer is not True:  # not sent, or refused
            async with sessions() as s:
                await repo.orders.release_cancel(s, order_id)
                await s.commit()
    kind, reason = Kind.ok, None
    if isinstance(answer, OutcomeUnknown):
        kind = Kind.unclear
    elif isinstance(answer, (PanelUnavailable, RateLimited)):
        kind = Kind.unreachable
    elif isinstance(answer, InvalidKey):
        kind = Kind.invalid_key
    elif isinstance(answer, PanelError):
        kind, reason = Kind.rejected, panel_reason(answer)
    elif answer is not True:
        kind = Kind.rejected
    if kind == Kind.ok:
        fresh = await refresh(sessions, panels, order_id, chat_id)
        return Result(Kind.ok, fresh.order, fresh.refills, refreshed=fresh.refreshed)
    stored = await load_order(sessions, order_id, chat_id)
    return Result(kind, stored.order or order, stored.refills, reason)


async def lookup_statuses(
    sessions: Sessions,
    panels: PanelHub,
    account: Account,
    chat_id: int,
    ids: Sequence[int],
    *,
    only_ours: bool = False,
) -> list[IdStatus]:
    """Multi-status for up to 100 ids in one panel call; the chat's own orders among them are updated.
    `only_ours`: the panel is asked only about the chat's own orders (a group member may not read the other
    orders of the group's account); the other ids come back `withheld`."""
    assert account.id is not None and len(ids) <= MAX_STATUS_IDS
    async with sessions() as s:
        ours = await repo.orders.get_orders_by_panel_ids(s, account.id, ids)
    ours = {pid: o for pid, o in ours.items() if o.chat_id == chat_id}
    asked = [pid for pid in ids if pid in ours] if only_ours else list(ids)
    answers = await panels.client(account).statuses(asked) if asked else {}
    async with sessions() as s:
        for pid, answer in answers.items():
            order = await s.get(Order, ours[pid].id, populate_existing=True) if pid in ours else None
            if order is not None and isinstance(answer, OrderStatus):
                await repo.orders.apply_status(
                    s,
                    order,
                    answer.status,
                    answer.remains,
                    answer.start_count,
                    answer.charge,
                    next_poll_time(order),
                )
        await s.commit()
    lines = []
    for pid in ids:
        got = answers.get(pid)
        status = got if isinstance(got, OrderStatus) else None
        error = got if isinstance(got, PanelError) else None
        lines.append(IdStatus(pid, status, error, ours.get(pid), withheld=pid not in asked))
    return lines

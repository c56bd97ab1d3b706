"""Orders: the exactly-once claim, placement results, listing, polling."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from storage.models import Account, Placement
from storage.repo import chats, orders, refills
from storage.types import utcnow
from tests.storage.helpers import make_draft, make_placed


async def test_draft_gets_a_short_unique_token(session: AsyncSession, account: Account) -> None:
    first = await make_draft(session, account, fields={"comments": "a\nb"})
    second = await make_draft(session, account)
    await session.commit()
    assert first.placement == Placement.drafted
    assert first.confirm_token != second.confirm_token
    assert 8 <= len(first.confirm_token) <= 16
    assert len(f"confirm:{first.confirm_token}".encode()) <= 64
    session.expunge_all()
    again = await orders.get_order_by_token(session, first.confirm_token)
    assert again is not None and again.fields == {"comments": "a\nb"} and again.price == Decimal("0.9")


async def test_claim_is_exactly_once_under_concurrency(
    session_factory: async_sessionmaker[AsyncSession], account: Account
) -> None:
    async with session_factory() as s:
        token = (await make_draft(s, account)).confirm_token
        await s.commit()

    async def press() -> int | None:
        async with session_factory() as s:
            await orders.get_order_by_token(s, token)  # handlers read first (who pressed?), then claim
            claimed = await orders.claim_draft_for_sending(s, token)
            return claimed.id if claimed else None

    results = await asyncio.gather(*(press() for _ in range(6)))
    winners = [r for r in results if r is not None]
    assert len(winners) == 1
    async with session_factory() as s:
        order = await orders.get_order(s, winners[0])
        assert order is not None and order.placement == Placement.sending
        assert await orders.claim_draft_for_sending(s, token) is None  # a later press


async def test_claim_checks_the_chat(session: AsyncSession, account: Account) -> None:
    token = (await make_draft(session, account)).confirm_token
    assert await orders.claim_draft_for_sending(session, token, chat_id=account.chat_id + 1) is None
    assert await orders.claim_draft_for_sending(session, "nope") is None
    claimed = await orders.claim_draft_for_sending(session, token, chat_id=account.chat_id)
    assert claimed is not None and claimed.placement == Placement.sending


async def test_claim_is_committed(
    session_factory: async_sessionmaker[AsyncSession], account: Account
) -> None:
    async with session_factory() as s:
        token = (await make_draft(s, account)).confirm_token
        claimed = await orders.claim_draft_for_sending(s, token)
        assert claimed is not None
        await s.rollback()  # nothing to undo: the claim was committed
    async with session_factory() as s:
        order = await orders.get_order_by_token(s, token)
        assert order is not None and order.placement == Placement.sending


async def test_placement_results(session: AsyncSession, account: Account) -> None:
    a, b, c = [await make_draft(session, account) for _ in range(3)]
    for draft in (a, b, c):
        draft.placement = Placement.sending
    await session.flush()
    assert await orders.mark_placed(session, a.id, 23501, Decimal("0.27819"), "USD") is not None
    assert a.placement == Placement.placed and a.panel_order_id == 23501 and a.charge == Decimal("0.27819")
    assert a.placed_at is not None and a.next_poll_at is not None
    assert await orders.mark_rejected(session, b.id, "Not enough funds on balance") is not None
    assert b.placement == Placement.rejected and b.error == "Not enough funds on balance"
    assert await orders.mark_unclear(session, c.id, "timeout") is not None
    assert c.placement == Placement.unclear
    # transitions from the wrong state do nothing
    assert await orders.mark_rejected(session, a.id, "late") is None
    assert await orders.mark_unclear(session, b.id, "late") is None
    assert a.placement == Placement.placed and b.placement == Placement.rejected
    # an unclear order found on the panel later can still become placed
    assert await orders.mark_placed(session, c.id, 23502) is not None


async def test_stale_sending_becomes_unclear(session: AsyncSession, account: Account) -> None:
    drafts = [await make_draft(session, account) for _ in range(3)]
    drafts[0].placement = Placement.sending
    drafts[1].placement = Placement.sending
    placed = await make_placed(session, account, 9)
    refill = await refills.create_refill(session, placed.id, account.chat_id, 7)  # type: ignore[arg-type]
    await session.commit()
    assert await orders.mark_stale_sending_as_unclear(session) == 3
    await session.commit()
    session.expunge_all()
    states = [(await orders.get_order(session, d.id)).placement for d in drafts]  # type: ignore[union-attr]
    assert states == [Placement.unclear, Placement.unclear, Placement.drafted]
    assert (await refills.get_refill(session, refill.id)).placement == Placement.unclear  # type: ignore[union-attr, arg-type]
    assert await orders.mark_stale_sending_as_unclear(session) == 0


async def test_list_count_get(session: AsyncSession, account: Account) -> None:
    await make_draft(session, account)  # drafts are not listed
    placed = [await make_placed(session, account, 100 + i) for i in range(5)]
    await orders.apply_status(session, placed[0], "Completed", 0, 10, None, None)
    await session.commit()
    listed = await orders.list_orders(session, account.chat_id, offset=0, limit=3)
    assert [o.panel_order_id for o in listed] == [104, 103, 102]
    assert [o.panel_order_id for o in await orders.list_orders(session, account.chat_id, 3, 3)] == [101, 100]
    assert await orders.count_orders(session, account.chat_id) == 5
    assert await orders.count_orders(session, account.chat_id, status="completed") == 1
    assert [o.id for o in await orders.list_orders(session, account.chat_id, status="Completed")] == [
        placed[0].id
    ]
    assert await orders.get_order(session, placed[1].id, chat_id=account.chat_id) is not None  # type: ignore[arg-type]
    assert await orders.get_order(session, placed[1].id, chat_id=999) is None  # type: ignore[arg-type]
    found = await orders.get_orders_by_panel_ids(session, account.id, [101, 103, 999])  # type: ignore[arg-type]
    assert sorted(found) == [101, 103] and found[101].id == placed[1].id


async def test_due_orders_and_apply_status(session: AsyncSession, account: Account) -> None:
    due = await make_placed(session, account, 1)
    now = utcnow()
    later = await make_placed(session, account, 2)
    later.next_poll_at = now + timedelta(minutes=5)
    done = await make_placed(session, account, 3)
    await session.flush()
    assert await orders.apply_status(session, done, "Completed", 0, 5, Decimal("1.5"), now) is True
    assert done.next_poll_at is None and done.status_changed_at is not None
    await session.commit()
    assert [o.id for o in await orders.due_orders(session, now)] == [due.id]

    assert await orders.apply_status(session, due, "In progress", 500, 10, None, now + timedelta(minutes=1))
    assert not await orders.apply_status(
        session, due, "In progress", 400, None, None, now + timedelta(minutes=2)
    )
    assert due.remains == 400 and due.start_count == 10
    await session.commit()
    assert await orders.due_orders(session, now) == []
    assert len(await orders.due_orders(session, now + timedelta(minutes=10))) == 2
    # lower-case final statuses stop polling as well
    await orders.apply_status(session, due, "canceled", None, None, None, now)
    assert due.next_poll_at is None


async def test_orders_of_removed_accounts_are_not_due_those_of_inactive_chats_are(
    session: AsyncSession, account: Account
) -> None:
    await make_placed(session, account, 1)
    await session.commit()
    now = utcnow() + timedelta(seconds=1)
    assert len(await orders.due_orders(session, now)) == 1
    await chats.set_chat_active(session, account.chat_id, False)  # blocked the bot: tracked quietly
    assert len(await orders.due_orders(session, now)) == 1
    await chats.set_chat_active(session, account.chat_id, True)
    from storage.repo import accounts

    await accounts.remove_account(session, account.id)  # type: ignore[arg-type]
    assert await orders.due_orders(session, now) == []


async def test_purge_drafts_and_counts(session: AsyncSession, account: Account) -> None:
    old = await make_draft(session, account)
    old.created_at = utcnow() - timedelta(days=2)
    await make_draft(session, account)
    await make_placed(session, account, 1)
    await session.commit()
    assert await orders.placement_counts(session) == {"drafted": 2, "placed": 1}
    assert await orders.purge_drafts(session, utcnow() - timedelta(days=1)) == 1
    assert await orders.placement_counts(session) == {"drafted": 1, "placed": 1}


async def test_refills(session: AsyncSession, account: Account) -> None:
    order = await make_placed(session, account, 1)
    first = await refills.create_refill(session, order.id, account.chat_id, 7)  # type: ignore[arg-type]
    assert await refills.has_refill_in_progress(session, order.id)  # type: ignore[arg-type]
    assert await refills.mark_refill_placed(session, first.id, 12345) is not None  # type: ignore[arg-type]
    second = await refills.create_refill(session, order.id, account.chat_id, 7)  # type: ignore[arg-type]
    assert await refills.mark_refill_rejected(session, second.id, "Refill is disabled") is not None  # type: ignore[arg-type]
    await session.commit()
    assert [r.placement for r in await refills.refills_for_order(session, order.id)] == ["placed", "rejected"]  # type: ignore[arg-type]
    due = await refills.due_refills(session, utcnow() + timedelta(seconds=1))
    assert [(r.id, o.id) for r, o in due] == [(first.id, order.id)]
    assert await refills.apply_refill_status(session, first, "Completed", None)
    assert first.next_poll_at is None
    assert not await refills.has_refill_in_progress(session, order.id)  # type: ignore[arg-type]

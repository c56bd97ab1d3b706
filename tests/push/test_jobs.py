"""The background jobs' own work: leadership, the sweep of rows left `sending`, housekeeping."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import update

from bot.jobs import DRAFTS_KEPT, OUTBOX_KEPT, STALE_SENDING, housekeeping, sweep_stale_sending
from bot.leader import Leadership
from storage import repo
from storage.models import Order, Outbox, Placement
from storage.types import utcnow
from tests.push import PushEnv, make_env


@pytest.fixture
async def push(db_url: str, tmp_path: Path) -> AsyncIterator[PushEnv]:
    async for env in make_env(db_url, tmp_path):
        yield env


async def _draft(push: PushEnv, chat_id: int) -> Order:
    account, _ = await push.account(chat_id)
    async with push.deps.sessions() as s:
        order = await repo.orders.create_draft(
            s, chat_id=chat_id, account_id=account.id, placed_by=chat_id, service_id=1, price=Decimal("1")
        )
        await s.commit()
        return order


async def _set(push: PushEnv, model: type, row_id: int, **values: object) -> None:
    async with push.deps.sessions() as s:
        await s.execute(update(model).where(model.id == row_id).values(**values))
        await s.commit()


async def test_only_rows_sending_for_long_are_swept(push: PushEnv) -> None:
    fresh = await _draft(push, 501)
    old = await _draft(push, 502)
    async with push.deps.sessions() as s:
        for order in (fresh, old):
            assert await repo.orders.claim_draft_for_sending(s, order.confirm_token) is not None
    # another instance may be sending `fresh` right now; `old` lost its process long ago
    await _set(push, Order, old.id, updated_at=utcnow() - STALE_SENDING - timedelta(seconds=5))
    assert await sweep_stale_sending(push.deps) == 1
    async with push.deps.sessions() as s:
        assert (await repo.orders.get_order(s, old.id)).placement == Placement.unclear  # type: ignore[union-attr]
        assert (await repo.orders.get_order(s, fresh.id)).placement == Placement.sending  # type: ignore[union-attr]


async def test_housekeeping_forgets_stale_drafts_and_old_notices(push: PushEnv) -> None:
    recent, stale = await _draft(push, 511), await _draft(push, 512)
    await _set(push, Order, stale.id, created_at=utcnow() - DRAFTS_KEPT - timedelta(hours=1))
    async with push.deps.sessions() as s:
        old_id = await repo.outbox.enqueue(s, 511, "old", dedupe_key="old")
        new_id = await repo.outbox.enqueue(s, 511, "new", dedupe_key="new")
        await s.commit()
    assert old_id and new_id
    await _set(push, Outbox, old_id, sent_at=utcnow() - OUTBOX_KEPT - timedelta(days=1))
    await _set(push, Outbox, new_id, sent_at=utcnow())
    assert await housekeeping(push.deps) == (1, 1)
    async with push.deps.sessions() as s:
        assert await repo.orders.get_order(s, recent.id) is not None
        assert await repo.orders.get_order(s, stale.id) is None


async def test_one_leader_per_database(push: PushEnv) -> None:
    first, second = Leadership(push.deps.engine), Leadership(push.deps.engine)
    try:
        assert await first.check() and await first.check()  # keeps it
        assert not await second.check()
        await first.release()
        assert await second.check()  # taken over
    finally:
        await first.release()
        await second.release()

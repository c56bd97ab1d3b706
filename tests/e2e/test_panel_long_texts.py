"""A panel that sends 5,000 characters where a short word belongs (status, service type, currency, error):
on both backends the order is placed, stored and tracked, its notices arrive, and the other orders polled in
the same multi-status chunk are written with it. A row that the database refuses does not hold back the rest
of its chunk either."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from bot.panel.models import CURRENCY_MAX, STATUS_MAX, TYPE_MAX
from bot.tracking import poll_cycle
from tests.e2e.conftest import KEY, BotEnv
from tests.e2e.test_order import rows, to_summary

LONG = 5000


async def place_three(env: BotEnv) -> None:
    alice = await env.connected(101)
    for i in range(3):
        await to_summary(alice, quantity=1000, link=f"https://instagram.com/alice{i}")
        await alice.press("Confirm")
        assert "Order placed" in alice.text, alice.text


async def poll(env: BotEnv) -> None:
    report = await poll_cycle(env.deps, datetime.fromtimestamp(env.panel.clock.now(), UTC))
    assert report.requests == 1  # the three orders are one multi-status chunk


async def notices(env: BotEnv, count: int, before: int) -> list[str]:
    """Wait for `count` more messages in chat 101 than `before` (the delivery runs in the background, one
    message a second per chat)."""
    for _ in range(300):
        messages = env.tg.bot_messages(101)
        if len(messages) >= before + count:
            return [m.get("text", "") for m in messages[before:]]
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} notices expected\n{env.tg.summary()}")


async def test_long_status_type_and_currency_are_placed_tracked_and_announced(env: BotEnv) -> None:
    env.panel.faults.long_text = LONG
    await place_three(env)
    placed = await rows(env)
    assert [o.placement for o in placed] == ["placed"] * 3
    for order in placed:
        assert order.currency is not None and order.currency.startswith("USD") and len(order.currency) <= 16
        assert order.service_type.startswith("Default x") and len(order.service_type) <= TYPE_MAX
    assert CURRENCY_MAX == 16

    env.panel.faults.long_text_orders = {placed[0].panel_order_id or 0}  # one long status in the chunk
    env.panel.clock.advance(60)  # past pending: In progress
    before = len(env.tg.bot_messages(101))
    await poll(env)
    first, *others = await rows(env)
    assert first.status is not None and first.status.startswith("In progress x")
    assert len(first.status) <= STATUS_MAX
    assert [o.status for o in others] == ["In progress"] * 2  # written in the same statement
    texts = await notices(env, 3, before)
    assert all("In progress" in text for text in texts)


async def test_long_error_is_kept_and_shown_shortened(env: BotEnv) -> None:
    env.panel.faults.long_text = LONG
    env.panel.set_balance(KEY, "0")
    alice = await env.connected(101)
    await to_summary(alice)
    await alice.press("Confirm")
    (order,) = await rows(env)
    assert order.placement == "rejected"
    assert order.error is not None and order.error.startswith("Not enough funds")
    assert len(alice.text) <= 4096


async def test_a_row_the_database_refuses_does_not_hold_back_its_chunk(env: BotEnv) -> None:
    await place_three(env)
    first, *_ = await rows(env)
    engine = env.deps.engine
    async with engine.begin() as conn:  # a real refusal of one row's UPDATE
        if engine.dialect.name == "sqlite":
            await conn.exec_driver_sql(
                f"CREATE TRIGGER refuse BEFORE UPDATE ON orders WHEN NEW.id = {first.id} "
                "BEGIN SELECT RAISE(ABORT, 'injected: this row is refused'); END"
            )
        else:
            await conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ "
                "BEGIN RAISE EXCEPTION 'injected: this row is refused'; END $$"
            )
            await conn.exec_driver_sql(
                f"CREATE TRIGGER refuse BEFORE UPDATE ON orders FOR EACH ROW WHEN (NEW.id = {first.id}) "
                "EXECUTE FUNCTION refuse()"
            )
    env.panel.clock.advance(60)
    before = len(env.tg.bot_messages(101))
    await poll(env)
    refused, *others = await rows(env)
    assert refused.status is None  # unchanged: still due, read again next cycle
    assert [o.status for o in others] == ["In progress"] * 2
    texts = await notices(env, 2, before)
    assert all("In progress" in text for text in texts)

"""The money path: the panel accepted an order (and took the money), then our database refused the write.

The failures are real: a trigger in the test's database rejects the UPDATE that stores the panel's order id
(SQLite: `RAISE(ABORT)`; PostgreSQL: a plpgsql trigger, once or always, counted with a sequence because
sequences ignore the rollback).
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import select

from bot import durable_writes
from storage.models import Order, Placement
from tests.e2e.conftest import BotEnv
from tests.e2e.test_order import to_summary
from tests.e2e.test_orders import (
    REFILL_AND_CANCEL,
    click,
    link,
    open_card,
    panel_id,
    place_order_directly,
    refills_of,
)

SQLITE_ALWAYS = """
CREATE TRIGGER fail_placed BEFORE UPDATE OF {column} ON {table}
WHEN NEW.{column} IS NOT NULL
BEGIN SELECT RAISE(ABORT, 'injected: storing the panel id fails'); END
"""
PG_FUNCTION = """
CREATE FUNCTION fail_placed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF nextval('fail_tries') <= {times} THEN RAISE EXCEPTION 'injected: storing the panel id fails'; END IF;
  RETURN NEW;
END $$
"""
PG_TRIGGER = """
CREATE TRIGGER fail_placed BEFORE UPDATE OF {column} ON {table} FOR EACH ROW
WHEN (NEW.{column} IS NOT NULL) EXECUTE FUNCTION fail_placed()
"""


async def fail_panel_id_writes(
    env: BotEnv, times: int | None, table: str = "orders", column: str = "panel_order_id"
) -> None:
    """Make the UPDATE that stores a panel id fail `times` times (None: until `heal`)."""
    engine = env.deps.engine
    where = {"table": table, "column": column}
    async with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            assert times is None, "SQLite has no state outside the transaction to count failures with"
            await conn.exec_driver_sql(SQLITE_ALWAYS.format(**where))
            return
        await conn.exec_driver_sql("CREATE SEQUENCE fail_tries")
        await conn.exec_driver_sql(PG_FUNCTION.format(times=times if times is not None else 2**62))
        await conn.exec_driver_sql(PG_TRIGGER.format(**where))


async def heal(env: BotEnv) -> None:
    async with env.deps.engine.begin() as conn:
        if env.deps.engine.dialect.name == "sqlite":
            await conn.exec_driver_sql("DROP TRIGGER fail_placed")
        else:
            await conn.exec_driver_sql("DROP TRIGGER fail_placed ON orders")  # the orders' trigger


async def the_order(env: BotEnv) -> Order:
    async with env.deps.sessions() as session:
        (order,) = (await session.scalars(select(Order))).all()
        return order


def messages(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records]


async def test_panel_id_is_logged_first_and_the_write_is_retried(
    env: BotEnv, caplog: pytest.LogCaptureFixture
) -> None:
    if env.deps.engine.dialect.name == "sqlite":
        pytest.skip("failing exactly once needs a counter outside the transaction (a PostgreSQL sequence)")
    caplog.set_level(logging.INFO)
    await fail_panel_id_writes(env, times=1)
    alice = await env.connected(101)
    await to_summary(alice)
    draft = await the_order(env)
    await alice.press("Confirm")

    order = await the_order(env)
    assert order.placement == "placed" and order.panel_order_id == max(env.panel.orders)
    assert "Order placed" in alice.text and f"#{order.panel_order_id}" in alice.text
    log = messages(caplog)
    first = log.index(
        next(
            m for m in log if f"placed it as #{order.panel_order_id}" in m[1] and draft.confirm_token in m[1]
        )
    )
    assert log[first][0] == logging.WARNING
    failed = [i for i, m in enumerate(log) if "write failed (try 1 of 4)" in m[1] and "injected" in m[1]]
    assert failed and failed[0] > first  # logged before the write was even tried
    assert any("written at try 2" in m for _, m in log[failed[0] :])
    assert env.panel.count("add") == 1  # the panel was asked once


async def test_placed_even_when_every_write_fails_then_stored_in_the_background(
    env: BotEnv, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(durable_writes, "LATER_EVERY", 0.1)
    caplog.set_level(logging.INFO)
    await fail_panel_id_writes(env, times=None)
    alice = await env.connected(101)
    await to_summary(alice)
    draft = await the_order(env)
    await alice.press("Confirm")

    panel_id = max(env.panel.orders)
    # The person is told the truth: the panel has the order (and the money).
    assert "Order placed" in alice.text and f"#{panel_id}" in alice.text, alice.text
    log = messages(caplog)
    assert (
        logging.WARNING,
        f"order {draft.id} (draft {draft.confirm_token}, account {draft.account_id}): "
        f"the panel placed it as #{panel_id}",
    ) in log
    assert sum("write failed (try" in m and "injected" in m for _, m in log) == 4
    assert any(level == logging.ERROR and "NOT STORED yet" in m and f"#{panel_id}" in m for level, m in log)
    stored = await the_order(env)
    assert stored.placement == "sending" and stored.panel_order_id is None  # left for the second path

    await heal(env)  # the database is back: the background write gets through
    for _ in range(100):
        stored = await the_order(env)
        if stored.placement == "placed":
            break
        await asyncio.sleep(0.05)
    assert stored.placement == "placed" and stored.panel_order_id == panel_id
    assert any("written by the background retry" in m for _, m in messages(caplog))
    assert env.panel.count("add") == 1


async def test_refill_id_is_logged_first_and_the_write_is_retried(
    env: BotEnv, caplog: pytest.LogCaptureFixture
) -> None:
    if env.deps.engine.dialect.name == "sqlite":
        pytest.skip("failing exactly once needs a counter outside the transaction (a PostgreSQL sequence)")
    caplog.set_level(logging.INFO)
    alice = await env.connected()
    order_id = await place_order_directly(env, alice.chat_id, REFILL_AND_CANCEL, link(), 100)
    pid = await panel_id(env, order_id)
    env.panel.clock.advance(60)
    env.panel.force_status(pid, "Completed")
    await fail_panel_id_writes(env, times=1, table="refill", column="panel_refill_id")
    await open_card(alice, order_id)
    await click(alice, "Refresh")
    await click(alice, "Refill")

    assert env.panel.count("refill") == 1
    [refill] = await refills_of(env, order_id)
    assert refill.placement == Placement.placed and refill.panel_refill_id == 1
    assert "Refill #1 requested" in alice.alerts()[-1]
    log = [m for _, m in messages(caplog)]
    first = log.index(f"refill {refill.id} accepted as panel refill #1")
    failed = next(i for i, m in enumerate(log) if "write failed (try 1 of 4)" in m and "injected" in m)
    assert first < failed and any("written at try 2" in m for m in log[failed:])

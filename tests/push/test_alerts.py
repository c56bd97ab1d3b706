"""Low-balance alerts: once per crossing under the threshold, again only after being back above it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from bot.alerts import check_balance_after_order
from bot.ordering import place_order
from bot.panel import Balance
from storage import repo
from storage.models import Chat
from tests.push import QUANTITY, SERVICE, PushEnv, callbacks, make_env


@pytest.fixture
async def push(db_url: str, tmp_path: Path) -> AsyncIterator[PushEnv]:
    async for env in make_env(db_url, tmp_path):
        yield env


async def _chat(push: PushEnv, chat_id: int) -> Chat:
    async with push.deps.sessions() as s:
        chat = await repo.chats.get_chat(s, chat_id)
    assert chat is not None
    return chat


async def test_alert_hysteresis(push: PushEnv) -> None:
    account, key = await push.account(201, balance="10", threshold=Decimal(5))
    await push.account(202, balance="1")  # no threshold: never looked at

    report = await push.balances()
    assert (report.accounts, report.checked, report.alerts) == (1, 1, 0)
    assert await push.outbox() == []

    push.sim.set_balance(key, "3.2")  # above -> under: one alert
    report = await push.balances()
    assert report.alerts == 1
    (alert,) = await push.outbox(201)
    assert alert.text == "⚠️ Low balance: <b>3.20 USD</b> (under your 5.00 USD alert)"
    assert callbacks(alert) == ["bal:show"]
    assert (await _chat(push, 201)).balance_alert_sent is True

    push.sim.set_balance(key, "2")  # still under: nothing
    assert (await push.balances()).alerts == 0
    push.sim.set_balance(key, "5")  # back at the threshold: armed again, nothing said
    report = await push.balances()
    assert (report.alerts, report.resets) == (0, 1)
    assert (await _chat(push, 201)).balance_alert_sent is False
    assert len(await push.outbox(201)) == 1

    push.sim.set_balance(key, "4.99")  # under again: a second alert
    assert (await push.balances()).alerts == 1
    assert [m.text.split("</b>")[0] for m in await push.outbox(201)] == [
        "⚠️ Low balance: <b>3.20 USD",
        "⚠️ Low balance: <b>4.99 USD",
    ]
    async with push.deps.sessions() as s:
        stored = await repo.accounts.get_account(s, account.id)  # type: ignore[arg-type]
    assert stored is not None and stored.last_balance == Decimal("4.99")


async def test_unreachable_panel_keeps_the_state(push: PushEnv) -> None:
    _, key = await push.account(203, balance="3", threshold=Decimal(5))
    assert (await push.balances()).alerts == 1
    push.sim.set_balance(key, "50")
    push.sim.faults.fail_actions["balance"] = "502"
    report = await push.balances()
    assert (report.failed, report.resets) == (1, 0)  # the last known balance (3) still counts
    assert (await _chat(push, 203)).balance_alert_sent is True


async def test_check_after_an_order(push: PushEnv) -> None:
    account, _key = await push.account(204, balance="100", threshold=Decimal(5))
    assert await check_balance_after_order(push.deps, account.id, Balance(Decimal("4"), "USD")) is True  # type: ignore[arg-type]
    assert await check_balance_after_order(push.deps, account.id, Balance(Decimal("3"), "USD")) is False  # type: ignore[arg-type]
    assert len(await push.outbox(204)) == 1
    # the balance job reads 100 at the panel: re-armed
    assert (await push.balances()).resets == 1


async def test_placing_an_order_that_crosses_the_threshold_alerts(push: PushEnv) -> None:
    account, key = await push.account(205, balance="5.05", threshold=Decimal(5))
    assert (await push.balances()).alerts == 0
    async with push.deps.sessions() as s:
        draft = await repo.orders.create_draft(
            s,
            chat_id=205,
            account_id=account.id,  # type: ignore[arg-type]
            placed_by=205,
            service_id=SERVICE,
            price=Decimal("0.09"),
            link="https://instagram.com/p/alert",
            quantity=QUANTITY,
        )
        await s.commit()
    result = await place_order(push.deps.sessions, push.deps.panels, draft.confirm_token, chat_id=205)
    assert result.outcome == "placed" and push.sim.balance_of(key) == Decimal("4.96")
    (alert,) = await push.outbox(205)
    assert "4.96 USD" in alert.text

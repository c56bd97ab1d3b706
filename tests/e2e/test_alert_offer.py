"""After a key is linked, the low-balance alert is offered in one tap, end to end: press an amount, the
chat's threshold is stored, and the alert fires when the balance falls under it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from bot.jobs import BALANCE_JOB
from handlers.alert_offer import offer_amounts, round_down_nicely
from storage import repo
from storage.models import Chat
from tests.e2e.conftest import KEY, BotEnv

GROUP = -1001


async def chat_row(env: BotEnv, chat_id: int) -> Chat:
    async with env.deps.sessions() as session:
        chat = await repo.chats.get_chat(session, chat_id)
    assert chat is not None
    return chat


async def run_balance_job_now(env: BotEnv) -> None:
    """Let the scheduler run the balance job at once (as it would after SMMBOT_BALANCE_INTERVAL)."""
    assert env.app is not None and env.app.job_queue is not None
    (job,) = env.app.job_queue.get_jobs_by_name(BALANCE_JOB)
    before = env.app.bot_data.get("balance_report")
    job.job.modify(next_run_time=datetime.now(UTC))
    await env.tg.wait_for(lambda: env.app.bot_data.get("balance_report") is not before, 10, what="a cycle")


def test_amounts_are_round_shares_of_the_balance() -> None:
    assert offer_amounts(Decimal(100)) == [Decimal(10), Decimal(25), Decimal(50)]
    assert offer_amounts(Decimal("1234.56")) == [Decimal(100), Decimal(250), Decimal(500)]
    assert offer_amounts(Decimal("37.4")) == [Decimal("2.5"), Decimal(5), Decimal(10)]
    assert offer_amounts(Decimal(0)) == [Decimal(1), Decimal(5), Decimal(10)]
    assert round_down_nicely(Decimal("0.37")) == Decimal("0.25")


async def test_offer_after_linking_then_the_alert_fires(env: BotEnv) -> None:
    alice = env.person(101)
    await alice.say("/connect")
    await alice.say(KEY)
    assert "Panel linked" in alice.recent_text()
    assert "balance runs low" in alice.text
    assert alice.buttons() == ["10.00 USD", "25.00 USD", "50.00 USD", "No alert"]
    await alice.press("25.00 USD")
    assert "alert this chat when the balance falls below 25.00 USD" in alice.text
    chat = await chat_row(env, 101)
    assert chat.low_balance_threshold == Decimal(25) and not chat.balance_alert_sent

    env.panel.set_balance(KEY, "20")
    mark = env.tg.mark()
    await run_balance_job_now(env)
    await env.tg.wait_for_bot_message(101, after=mark, timeout=10)
    assert "Low balance: 20.00 USD (under your 25.00 USD alert)" in alice.text


async def test_no_alert_and_no_second_offer(env: BotEnv) -> None:
    alice = env.person(102)
    await alice.say("/connect")
    await alice.say(KEY)
    await alice.press("No alert")
    assert "no low-balance alert" in alice.text
    assert (await chat_row(env, 102)).low_balance_threshold is None
    # a chat with an alert already is not asked again
    bob = env.person(103)
    async with env.deps.sessions() as session:
        await repo.chats.get_or_create_chat(session, 103, kind="private")
        await repo.chats.update_chat(session, 103, low_balance_threshold=Decimal(5))
        await session.commit()
    await bob.say("/connect")
    await bob.say(KEY)
    assert "Panel linked" in bob.text and "balance runs low" not in bob.recent_text()


async def test_group_offer_only_admins_may_answer(env: BotEnv) -> None:
    ada, max_ = env.person(201, first_name="Ada"), env.person(202, first_name="Max")
    env.tg.add_group(GROUP, "Team", admins=[200, 201], members=[202])
    await ada.say(f"/start connect_g{-GROUP}")
    await ada.say(KEY)
    assert "Panel linked" in ada.recent_text() and "balance runs low" in ada.text
    member = env.in_group(max_, GROUP)
    await member.say("/help")
    await member.press_data(f"lba:{GROUP}:10", message=member.last)  # a forged press by a member
    assert "Only the group's admins" in member.alerts()[-1]
    assert (await chat_row(env, GROUP)).low_balance_threshold is None
    await ada.press("10.00 USD")
    assert (await chat_row(env, GROUP)).low_balance_threshold == Decimal(10)

"""/stats: the operator's figures after real orders and a real poll cycle; nobody else learns it exists."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select

from storage.models import Order
from tests.e2e.conftest import BotEnv, plain
from tests.e2e.test_order import to_summary

OPERATOR = 900  # SMMBOT_ADMIN_IDS of the harness


async def run_tracking_now(env: BotEnv) -> None:
    """Let the scheduler run the tracking job at once (as it would after SMMBOT_POLL_INTERVAL)."""
    assert env.app is not None and env.app.job_queue is not None
    (job,) = env.app.job_queue.get_jobs_by_name("tracking")
    before = env.deps.last_poll
    job.job.modify(next_run_time=datetime.now(UTC))

    def ran() -> bool:
        return env.deps.last_poll is not None and env.deps.last_poll is not before

    await env.tg.wait_for(ran, 10, what="a poll cycle")


async def test_operator_sees_the_figures(env: BotEnv) -> None:
    env.panel.status_lag = 0  # new orders are known to `status` at once
    op = await env.connected(OPERATOR)
    await op.say("/stats")
    text = plain(op.text)
    assert "Bot statistics" in text
    assert "Chats: 1 (1 active)" in text and "Linked accounts in active chats: 1" in text
    assert "Orders by placement: none" in text
    assert "Last poll cycle: no poll cycle yet." in text

    await to_summary(op)
    await op.press("Confirm")
    summary = await to_summary(op, quantity=5000, link="https://instagram.com/bob")
    assert "Order summary" in summary
    await op.press("Confirm")
    await env.person(101).say("/start")  # a second chat
    async with env.deps.sessions() as session:
        placed = (await session.scalars(select(Order).order_by(col(Order.id)))).all()
    assert placed[0].panel_order_id is not None
    env.panel.force_status(placed[0].panel_order_id, "In progress")  # the cycle reads it and queues a notice
    await run_tracking_now(env)

    await op.say("/stats")
    text = plain(op.text)
    assert "Chats: 2 (2 active)" in text
    assert "Orders by placement: placed 2" in text
    assert "Placed orders by panel status:" in text and "In progress 1" in text
    assert "Notifications: " in text and "pending" in text and "failed" in text
    assert "2 changes, 1 notices" in text  # both got their first status; one is news
    # panel requests since the start: the two `add`s at least (PANEL_METRICS counts for the whole process)
    assert "add: " in text and "services: " in text and "status: " in text
    host = env.panel.url.split("//", 1)[1].split("/", 1)[0]
    assert f"{host}: " in text and "requests, 0.0% failed" in text
    assert "Last poll cycle: " in text and "UTC" in text and "2 orders and 0 refills due" in text
    assert "Updates handled since the start" in text


async def test_panel_failures_show_per_panel(env: BotEnv) -> None:
    op = await env.connected(OPERATOR)
    await to_summary(op)
    await op.press("Confirm")
    env.panel.faults.fail_actions["status"] = "malformed"  # the tracker's multi-status gets garbage
    await run_tracking_now(env)
    await op.say("/stats")
    text = plain(op.text)
    assert "last failure" in text and "ago: status: not JSON" in text  # per panel, with what went wrong
    assert "requests, 0.0% failed" not in text
    assert "status: " in text and "· failed 0 (0.0%)" not in text.split("status: ", 1)[1][:30]


async def test_others_get_the_unknown_command_answer(env: BotEnv) -> None:
    alice = await env.connected(101)
    await alice.say("/stats")
    assert alice.text == "I don't know that command, see /help."
    assert "statistics" not in alice.text
    # an operator in a group: the figures are not for the group's members
    env.tg.add_group(-500, "Shop", admins=[OPERATOR, 101])
    op_in_group = env.in_group(env.person(OPERATOR), -500)
    await op_in_group.say("/stats@smm_test_bot")
    assert op_in_group.text == "I don't know that command, see /help."
    # the command menu advertises /stats only in the operators' own chats
    scopes = [c["scope"] for c in env.tg.calls("setMyCommands")]
    assert {"type": "chat", "chat_id": OPERATOR} in scopes
    assert all(s.get("chat_id") != 101 for s in scopes)

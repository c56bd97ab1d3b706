"""Two instances of the bot on one real PostgreSQL (a rolling deploy, or a standby): only one runs the
background jobs, and a status change is notified exactly once. When the leader stops, the other takes over.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.jobs import LEADERSHIP_JOB
from bot.sandbox.botapi import BotApiEmulator
from bot.sandbox.panel import PanelSimulator, SimClock
from storage import repo
from tests.e2e.conftest import BotEnv, make_env
from tests.e2e.test_orders import place_order_directly

USER = 4242


async def _instance(tg: BotApiEmulator, panel: PanelSimulator, pg_url: str, data_dir: Path) -> BotEnv:
    env = BotEnv(tg, panel, pg_url, data_dir)
    # both instances must share the secret that encrypts the panel keys, as in a real deployment
    env.settings = env.settings.model_copy(update={"poll_interval": 0.5, "data_dir": data_dir})
    await env.start()
    return env


def _notices(tg: BotApiEmulator, order_id: int) -> list[dict]:
    return [
        p for p in tg.calls("sendMessage") if p.get("chat_id") == USER and f"#{order_id}" in str(p["text"])
    ]


async def test_one_change_one_notification_with_two_instances(tmp_path: Path, pg_url: str) -> None:
    panel = PanelSimulator(clock=SimClock(frozen=True))
    await panel.start()
    tg = BotApiEmulator()
    await tg.start()
    shared = tmp_path / "data"  # one secret.key for both
    first = await _instance(tg, panel, pg_url, shared)
    second = await _instance(tg, panel, pg_url, shared)
    try:
        assert first.deps.leader.is_leader and not second.deps.leader.is_leader
        first.person(USER)
        await first.link(USER)
        service = panel.first_service_of_type("Default")
        order_id = await place_order_directly(first, USER, service["service"], "https://x.com/p/two", 100)
        async with first.deps.sessions() as session:
            order = await repo.orders.get_order(session, order_id)
            assert order is not None and order.panel_order_id is not None
            panel_id = order.panel_order_id
        panel.clock.advance(10)
        panel.force_status(panel_id, "Completed", remains=0)
        await tg.wait_for(lambda: bool(_notices(tg, panel_id)), timeout=15, what="the notification")
        await asyncio.sleep(3)  # several poll cycles of both instances
        assert len(_notices(tg, panel_id)) == 1

        # the leader goes away: the standby takes the lock at its next leadership check and runs the jobs
        await first.stop()
        assert second.app is not None and second.app.job_queue is not None
        (job,) = second.app.job_queue.get_jobs_by_name(LEADERSHIP_JOB)
        await job.run(second.app)
        assert second.deps.leader.is_leader
        order2 = await place_order_directly(second, USER, service["service"], "https://x.com/p/two-b", 100)
        async with second.deps.sessions() as session:
            panel_id2 = (await repo.orders.get_order(session, order2)).panel_order_id  # type: ignore[union-attr]
        panel.clock.advance(10)  # past the panel's "Incorrect order ID" moment right after add
        panel.force_status(panel_id2, "Completed", remains=0)  # type: ignore[arg-type]
        await tg.wait_for(
            lambda: bool(_notices(tg, panel_id2)), timeout=15, what="the standby's notification"
        )
    finally:
        await second.stop()
        await first.stop()
        await tg.stop()
        await panel.stop()


async def test_a_server_restart_costs_no_update(tmp_path: Path, pg_url: str) -> None:
    """The chats' lock pool does not pre-ping its connections (bot/conversation.py): when the server drops
    them (a restart, a failover), the next update takes its chat's lock on a new connection and is
    answered, not lost."""
    async for env in make_env(tmp_path, pg_url):
        alice = env.person(7301)
        await alice.say("/start")
        killer = create_async_engine(pg_url)
        try:
            async with killer.connect() as connection:
                killed = await connection.scalar(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
        finally:
            await killer.dispose()
        assert killed and killed >= 1  # the lock connection and the handlers' connections
        bob = env.person(7302)
        await bob.say("/start")
        assert "🔗 Connect panel" in bob.buttons()
        await alice.say("/help")
        assert "/connect" in alice.text

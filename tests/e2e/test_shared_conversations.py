"""Two instances of the bot on one PostgreSQL, behind a round-robin proxy: each update of the same people
goes to the other instance than the one before. Conversations live in the database, so every step is
understood whichever instance takes it; the chat's advisory lock keeps one chat's updates one at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from telegram import Update

from bot.conversation import chat_lock_key
from bot.sandbox.botapi import BotApiEmulator
from bot.sandbox.panel import PanelSimulator, SimClock
from storage import repo
from tests.e2e.conftest import KEY, BotEnv

USER = 5151
LINK = "https://instagram.com/p/two-instances"
# the advisory locks on USER's chat (a bigint key: high half in classid, low half in objid)
CHAT_LOCKS = (
    "SELECT granted FROM pg_locks "
    "WHERE locktype = 'advisory' AND classid = :high AND objid = :low AND objsubid = 1"
)
LOCK_KEY = chat_lock_key(USER) & 0xFFFF_FFFF_FFFF_FFFF  # as unsigned: pg_locks shows oids


@dataclass
class Proxy:
    """Takes the emulator's pending updates and hands them out in turn, as a webhook proxy would."""

    tg: BotApiEmulator
    envs: list[BotEnv]
    turn: int = 0

    async def deliver(self, *, to: list[int] | None = None) -> None:
        """Every pending update, each to the next instance (or to the instances listed, in order), all at
        once; then wait until both are quiet."""
        updates, self.tg.pending_updates = list(self.tg.pending_updates), []
        for i, data in enumerate(updates):
            index = to[i] if to is not None else self.turn % len(self.envs)
            self.turn += 1
            app = self.envs[index].app
            assert app is not None
            await app.update_queue.put(Update.de_json(data, app.bot))
        await self.quiet()

    async def quiet(self, idle: float = 0.2) -> None:
        loop = asyncio.get_running_loop()
        deadline, count, since = loop.time() + 15, -1, loop.time()
        while loop.time() < deadline:
            busy = any(e.busy() for e in self.envs)
            if len(self.tg.requests) != count or busy:
                count, since = len(self.tg.requests), loop.time()
            elif loop.time() - since >= idle:
                return
            await asyncio.sleep(0.02)
        raise AssertionError(f"the instances did not go quiet\n{self.tg.summary()}")

    async def say(self, text: str) -> str:
        self.tg.send_text(USER, USER, text)
        await self.deliver()
        return self.tg.last_bot_message(USER)["text"]


@pytest.fixture
async def pair(tmp_path: Path, pg_url: str) -> AsyncIterator[Proxy]:
    panel = PanelSimulator(clock=SimClock(frozen=True))
    await panel.start()
    tg = BotApiEmulator()
    await tg.start()
    envs = []
    for _ in range(2):
        env = BotEnv(tg, panel, pg_url, tmp_path / "data")  # one data dir: one secret for both
        env.settings = env.settings.model_copy(update={"poll_interval": 0.5})
        await env.start(polling=False)
        envs.append(env)
    tg.add_user(USER, "Alice", language_code="en")
    tg.add_private_chat(USER)
    try:
        yield Proxy(tg, envs)
    finally:
        for env in envs:
            await env.stop()
        await tg.stop()
        await panel.stop()


async def test_connect_and_the_order_wizard_across_two_instances(pair: Proxy) -> None:
    first, second = pair.envs
    panel = first.panel
    assert "API key" in await pair.say("/connect")  # instance 1
    sent = pair.tg.send_text(USER, USER, KEY)  # instance 2 takes the key
    await pair.deliver()
    assert sent is not None
    assert any("Panel linked" in m.get("text", "") for m in pair.tg.bot_messages(USER)[-2:])
    assert sent["message_id"] in {int(p["message_id"]) for p in pair.tg.calls("deleteMessage")}
    async with second.deps.sessions() as session:
        assert len(await repo.accounts.list_accounts(session, USER)) == 1

    assert "Send the link" in await pair.say("/order 1")  # 1
    assert "Send the quantity" in await pair.say(LINK)  # 2
    assert "Drip-feed" in await pair.say("100")  # 1
    assert "Order summary" in await pair.say("/skip")  # 2
    summary = pair.tg.last_bot_message(USER)
    confirm = next(d for label, d in pair.tg.buttons(summary) if "Confirm" in label)
    # a double press of Confirm, one press on each instance at the same moment
    for _ in range(2):
        pair.tg.press_button(USER, summary["message_id"], confirm, USER)
    await pair.deliver(to=[0, 1])
    assert panel.count("add") == 1
    placed = [m["text"] for m in pair.tg.bot_messages(USER) if "Order placed" in m["text"]]
    assert len(placed) == 1

    # the status change is pushed once, by whichever instance leads the background jobs
    async with first.deps.sessions() as session:
        (order,) = await repo.orders.list_orders(session, USER)
    assert order.panel_order_id is not None
    panel.clock.advance(10)
    panel.force_status(order.panel_order_id, "Completed", remains=0)

    def notices() -> list[dict]:
        return [
            p
            for p in pair.tg.calls("sendMessage")
            if p.get("chat_id") == USER
            and "Completed" in str(p["text"])
            and f"#{order.panel_order_id}" in str(p["text"])
        ]

    await pair.tg.wait_for(lambda: bool(notices()), timeout=15, what="the notification")
    await asyncio.sleep(2)  # several poll cycles of both instances
    assert len(notices()) == 1


async def test_a_chat_is_handled_by_one_instance_at_a_time(pair: Proxy) -> None:
    """The wizard's messages reach the two instances while the one before is still being handled: each
    waits for the chat's lock, so each answer lands in the step the one before left."""
    first, _ = pair.envs
    await first.link(USER)
    first.panel.faults.latency = 0.5  # /order 1 fetches the catalog: the chat stays locked meanwhile

    async def advisory_locks() -> list[bool]:
        async with first.deps.engine.connect() as connection:
            rows = await connection.execute(
                text(CHAT_LOCKS), {"high": LOCK_KEY >> 32, "low": LOCK_KEY & 0xFFFF_FFFF}
            )
            return [bool(granted) for (granted,) in rows]

    async def until(check: Callable[[list[bool]], bool]) -> None:
        for _ in range(500):
            if check(await advisory_locks()):
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"advisory locks: {await advisory_locks()}")

    async def hand(index: int, message: str) -> None:
        pair.tg.send_text(USER, USER, message)
        (data,) = pair.tg.pending_updates
        pair.tg.pending_updates = []
        app = pair.envs[index].app
        assert app is not None
        await app.update_queue.put(Update.de_json(data, app.bot))

    await hand(0, "/order 1")
    await until(lambda locks: locks == [True])  # instance 1 holds the chat
    await hand(1, LINK)
    await until(lambda locks: sorted(locks) == [False, True])  # instance 2 waits for it
    await hand(0, "100")  # queued behind /order 1 in instance 1
    await hand(1, "/skip")  # and behind the link in instance 2
    await pair.quiet()
    texts = [m["text"] for m in pair.tg.bot_messages(USER)]
    assert "Order summary" in texts[-1], texts
    assert not any("not sure what you mean" in t for t in texts), texts

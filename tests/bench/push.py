"""Benchmark: outbox delivery to many chats through the Bot API emulator enforcing Telegram's flood limits.

Run: `.venv/bin/python tests/bench/push.py [chats] [time_scale]`; prints `name: value` lines.

Each of 1,000 private chats has one notification queued (SQLite); the Deliverer runs as in production (its
background task, woken once) with a real telegram.Bot against the emulator, which runs in a process of its
own as Telegram would. The emulator enforces Telegram's limits (30 messages/s overall, 1/s per chat, 20/min
per group) on a clock running `time_scale` times faster, and the Deliverer's limits are scaled by the same
factor, so the run takes seconds instead of half a minute. `bound_s` is what the overall limit alone allows
(messages / (30 x scale)); `ratio_to_bound` how close to it the delivery came (the Deliverer keeps 5% under
Telegram's rates on purpose, so about 1.06 is the floor). 429s seen and messages lost must be 0.

Why time_scale 5 by default, not 10: the emulator stamps a request when its event loop gets to it, and a
stall of a millisecond or two (GC, a busy machine) makes a few arrivals look bunched. Against a window scaled
10x that noise is as large as the Deliverer's whole safety margin (one message, about 3.5 ms at 300/s), so
a single 429 shows up now and then; at 5 the margin is twice as long. With `push.py 1000 10` the ratio is
about 1.15 and the bot's process is then near one full core (`bot_cpu_s` close to `wall_s`).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from telegram import Bot
from telegram.request import HTTPXRequest

from bot.delivery import Deliverer
from bot.sandbox.botapi import BotApiEmulator
from storage import repo
from storage.db import create_engine, make_session_factory, migrate

CHATS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
SCALE = float(sys.argv[2]) if len(sys.argv) > 2 else 5.0
FIRST_CHAT = 10_000
CHAT_IDS = list(range(FIRST_CHAT, FIRST_CHAT + CHATS))


def telegram_process(conn: Connection) -> None:
    """The emulator, in a process of its own (as Telegram is): it stamps each request's arrival on its own
    clock, so the bot's event loop being busy for a moment does not bunch arrivals up."""

    async def serve() -> None:
        tg = BotApiEmulator(enforce_limits=True, time_scale=SCALE)
        await tg.start()
        for chat_id in CHAT_IDS:
            tg.add_user(chat_id, f"U{chat_id}")
            tg.add_private_chat(chat_id)
        conn.send((tg.url, tg.token))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)  # "report"
        texts = Counter(m["text"] for chat_id in CHAT_IDS for m in tg.bot_messages(chat_id))
        conn.send((dict(tg.stats), texts))
        await tg.stop()

    asyncio.run(serve())


async def main(conn: Connection) -> None:
    logging.basicConfig(level=logging.WARNING)
    url, token = conn.recv()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await migrate(db_url)
        engine = create_engine(db_url)
        sessions = make_session_factory(engine)
        async with sessions() as session:
            for chat_id in CHAT_IDS:
                await repo.chats.get_or_create_chat(session, chat_id)
                await repo.outbox.enqueue(
                    session,
                    chat_id,
                    f"Order <b>#{chat_id}</b>: In progress → <b>Completed</b>",
                    [[{"text": "Show", "callback_data": f"o:show:{chat_id}"}]],
                    dedupe_key=f"order:{chat_id}:Completed",
                )
            await session.commit()
        bot = Bot(token, base_url=f"{url}/bot", request=HTTPXRequest(connection_pool_size=8))
        await bot.initialize()
        deliverer = Deliverer(
            bot,
            sessions,
            overall_rate=30 * SCALE,
            per_chat_interval=1 / SCALE,
            group_per_minute=20 * SCALE,
            concurrency=4,  # a loopback round trip is ~2 ms: 4 in flight carry 300/s with little bunching
        )
        started, cpu_started = time.perf_counter(), time.process_time()
        deliverer.start()
        deliverer.wake()
        deadline = started + 110
        done = lambda: deliverer.stats["sent"] + deliverer.stats["failed"] >= CHATS  # noqa: E731
        while not done() and time.perf_counter() < deadline:  # noqa: ASYNC110 (polls a counter)
            await asyncio.sleep(0.005)
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        await asyncio.sleep(0.3)  # anything sent twice would show up now
        await deliverer.stop()
        await bot.shutdown()
        async with sessions() as session:
            counts = await repo.outbox.state_counts(session)
        await engine.dispose()
    conn.send("report")
    stats, delivered = conn.recv()

    bound = CHATS / (30 * SCALE)
    print(f"# time_scale: {SCALE:g} (the emulator's clock and the Deliverer's limits run {SCALE:g}x faster)")
    print(f"messages: {CHATS}")
    print(f"wall_s: {wall:.2f}")
    print(f"bound_s: {bound:.2f}")
    print(f"ratio_to_bound: {wall / bound:.2f}")
    print(f"messages_per_s_unscaled: {CHATS / wall / SCALE:.1f}")
    print(f"bot_cpu_s: {cpu:.2f}")  # the bot's process only (the emulator runs in another)
    print(f"rate_limited_429: {stats.get('rate_limited', 0)}")
    print(f"lost: {CHATS - len(delivered)}")
    print(f"duplicates: {sum(n - 1 for n in delivered.values())}")
    print(f"outbox_pending: {counts['pending']}")
    print(f"outbox_sent: {counts['sent']}")


if __name__ == "__main__":
    parent, child = multiprocessing.get_context("fork").Pipe()
    emulator = multiprocessing.get_context("fork").Process(
        target=telegram_process, args=(child,), daemon=True
    )
    emulator.start()  # forked before any event loop exists in this process
    try:
        asyncio.run(main(parent))
    finally:
        emulator.join(timeout=5)
        if emulator.is_alive():
            emulator.terminate()

"""Benchmark: a few hundred users at once through the Bot API emulator, against the real Application.

Run: `.venv/bin/python tests/bench/updates.py [users]` (or `make bench`). Prints `name: value` lines.

Every user has a linked panel and sends, all at the same moment, `/start`, `/services` and `/balance` (the
last two are real panel calls with 50 ms simulated latency; `/services` fetches and indexes each account's
1,000-service catalog the first time). The panel simulator runs in a process of its own; the Bot API emulator
shares the bot's process (the test drives it directly), so its work is counted in the figures. Handler time is
measured from the moment an update is handed to the emulator to the bot's first answer in that chat, so it
includes the long-poll pickup. The emulator does not enforce Telegram's flood limits here and the bot's rate
limiter is off: this measures the bot, not Telegram's 30 messages/s (tests/bench/push.py is about those). """

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from bot.sandbox.botapi import BotApiEmulator
from bot.sandbox.panel import Faults, PanelSimulator
from storage.db import migrate
from tests.e2e.conftest import BotEnv

USERS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
COMMANDS = ["/start", "/services", "/balance"]


def serve_panel(conn: Any) -> None:
    """Child process: the panel simulator, until the parent says stop."""

    async def main() -> None:
        sim = PanelSimulator(services=1000, faults=Faults(latency=0.05))
        conn.send(await sim.start())
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await sim.stop()

    asyncio.run(main())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    import logging

    logging.basicConfig(level=logging.CRITICAL)
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await migrate(db_url)
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(target=serve_panel, args=(child,), daemon=True)
        process.start()
        url = await asyncio.get_running_loop().run_in_executor(None, parent.recv)
        panel: Any = SimpleNamespace(url=url)  # BotEnv only needs the panel's URL
        tg = BotApiEmulator()
        await tg.start()
        env = BotEnv(tg, panel, db_url, Path(tmp) / "data")
        await env.start()
        try:
            users = list(range(10_000, 10_000 + USERS))
            for uid in users:
                env.person(uid)
                await env.link(uid)
            await env.quiet()
            latencies: list[float] = []
            per_command: dict[str, float] = {}
            started = time.perf_counter()
            for command in COMMANDS:
                mark = tg.mark()
                sent_at: dict[int, float] = {}
                for uid in users:
                    sent_at[uid] = time.perf_counter()
                    tg.send_text(uid, uid, command)
                answered: dict[int, float] = {}
                scanned = [mark]

                def all_answered(answered: dict[int, float] = answered, scanned: list[int] = scanned) -> bool:
                    now = time.perf_counter()
                    for name, params in tg.requests[scanned[0] :]:
                        chat = params.get("chat_id")
                        if name == "sendMessage" and chat in sent_at and chat not in answered:
                            answered[chat] = now
                    scanned[0] = len(tg.requests)
                    return len(answered) == len(users)

                await tg.wait_for(all_answered, timeout=300, what=f"answers to {command}")
                these = [answered[u] - sent_at[u] for u in users]
                per_command[command] = statistics.median(these)
                latencies += these
            total = time.perf_counter() - started
            errors = [
                r
                for (name, _), r in zip(tg.requests, tg.responses, strict=True)
                if r is not None and not r["ok"] and name != "setMyCommands"
            ]
        finally:
            await env.stop()
            await tg.stop()
            parent.send("stop")
            process.join(10)
    updates = USERS * len(COMMANDS)
    print(f"users: {USERS}")
    print(f"updates: {updates}")
    print(f"wall_s: {total:.2f}")
    print(f"updates_per_s: {updates / total:.1f}")
    print(f"handler_p50_ms: {statistics.median(latencies) * 1000:.1f}")
    print(f"handler_p99_ms: {percentile(latencies, 0.99) * 1000:.1f}")
    for command, median in per_command.items():
        print(f"p50_ms_{command.strip('/')}: {median * 1000:.1f}")
    print(f"telegram_errors: {len(errors)}")
    for error in errors[:3]:
        print(f"# error: {error.get('description')}")
    print(f"max_rss_mb: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    asyncio.run(main())

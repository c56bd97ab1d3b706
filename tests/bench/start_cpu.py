"""Benchmark: CPU per new user's /start, our bot beside a bare python-telegram-bot bot, in the same run.

Run: `.venv/bin/python tests/bench/start_cpu.py [users] [--profile]`. Prints `name: value` lines; with
`--profile`, also the top 15 functions of our bot by own time (cProfile) while it answers the measured users.

Users send /start one after another (no concurrency noise), each a user the bot has never seen (a new chat
row). Both bots run in this process against the Bot API emulator (its work, the long-poll pickup included, is
counted for both alike); ours on a SQLite file. CPU is `time.process_time()` over the measured users, after a
warm-up of 20.
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from telegram import Update
from telegram.ext import Application, ApplicationBuilder, CommandHandler, ContextTypes

from bot.sandbox.botapi import BotApiEmulator
from bot.sandbox.panel import PanelSimulator
from storage.db import migrate
from tests.e2e.conftest import BotEnv

ARGS = [a for a in sys.argv[1:] if not a.startswith("--")]
USERS = int(ARGS[0]) if ARGS else 200
PROFILE = "--profile" in sys.argv
WARM_UP = 20


async def _drive(tg: BotApiEmulator, first_user: int, count: int) -> None:
    for user in range(first_user, first_user + count):
        tg.add_user(user, f"U{user}", language_code="en")
        tg.add_private_chat(user)
        mark = tg.mark()
        tg.send_text(user, user, "/start")
        await tg.wait_for_bot_message(user, after=mark, timeout=10)


async def _measure(tg: BotApiEmulator, first_user: int, profiler: cProfile.Profile | None) -> float:
    await _drive(tg, first_user, WARM_UP)
    started = time.process_time()
    if profiler is not None:
        profiler.enable()
    await _drive(tg, first_user + WARM_UP, USERS)
    if profiler is not None:
        profiler.disable()
    return (time.process_time() - started) / USERS


async def _ours(profiler: cProfile.Profile | None) -> float:
    tg, panel = BotApiEmulator(), PanelSimulator()
    await tg.start()
    await panel.start()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/smmbot.db"
        await migrate(url)
        env = BotEnv(tg, panel, url, Path(tmp) / "data")
        await env.start()
        try:
            return await _measure(tg, 10_000, profiler)
        finally:
            await env.stop()
            await tg.stop()
            await panel.stop()


async def _hello(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text("Hello!")


async def _bare() -> float:
    tg = BotApiEmulator()
    await tg.start()
    app: Application[Any, Any, Any, Any, Any, Any] = (
        ApplicationBuilder().token(tg.token).base_url(f"{tg.url}/bot").concurrent_updates(True).build()
    )
    app.add_handler(CommandHandler("start", _hello))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        return await _measure(tg, 10_000, None)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await tg.stop()


async def main() -> None:
    profiler = cProfile.Profile() if PROFILE else None
    ours = await _ours(profiler)
    bare = await _bare()
    print(f"users: {USERS}")
    print(f"start_cpu_ms_ours: {ours * 1000:.2f}")
    print(f"start_cpu_ms_bare_ptb: {bare * 1000:.2f}")
    print(f"start_cpu_ratio: {ours / bare:.1f}")
    if profiler is not None:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(15)
        print("# " + "\n# ".join(out.getvalue().strip().splitlines()))


if __name__ == "__main__":
    asyncio.run(main())

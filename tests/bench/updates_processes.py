"""The processes of tests/bench/updates.py: the Bot API emulator, stamping when each new user's /start
goes in and when the answer comes back, and a bot (the bare one or ours), reporting its CPU time, its SQL
and, on demand, a cProfile of itself. Each runs in a process of its own and is driven over a pipe."""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import io
import logging
import pstats
import resource
import time
import traceback
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from bot.sandbox.botapi import BotApiEmulator

BARE_REPLY = "Hello! I am a bare bot."
# `bare_welcome`: the bare bot answering with a message of the same size and shape as our welcome to a new
# user (handlers/start.py: HTML, the same four paragraphs, one button), so that the comparison with it
# measures our machinery and not the length of what we say.
WELCOME_REPLY = "\n\n".join(
    [
        "👋 Hi, {name}!",
        "I place orders on your SMM panel right here in Telegram: browse the services, order, follow each "
        "order's status and keep an eye on the balance.",
        "First, link your panel's API key: press <b>Connect panel</b>.",
        "/help lists every command.",
    ]
)
REPO_ROOT = str(Path(__file__).resolve().parents[2]) + "/"


class Failure(str):
    """A child's traceback, sent back instead of an answer."""


# --- the Bot API emulator's process ------------------------------------------------------------------


class TimedEmulator(BotApiEmulator):
    """The emulator, stamping when each new user's /start goes in and when the bot's answer comes back."""

    def __init__(self) -> None:
        super().__init__(enforce_limits=True)
        self.sent_at: dict[int, float] = {}
        self.answered_at: dict[int, float] = {}
        self._waiting: set[int] = set()
        self._all_answered = asyncio.Event()

    async def call(self, method: str, params: dict) -> tuple[int, dict]:
        status, payload = await super().call(method, params)
        if status == 200 and method.lower() == "sendmessage":
            chat_id = payload["result"]["chat"]["id"]
            if chat_id in self._waiting:
                self.answered_at[chat_id] = time.perf_counter()
                self._waiting.discard(chat_id)
                if not self._waiting:
                    self._all_answered.set()
        return status, payload

    def new_user_starts(self, user_id: int) -> None:
        self.add_user(user_id, f"User{user_id}", language_code="en")
        self.add_private_chat(user_id)
        self._waiting.add(user_id)
        self.sent_at[user_id] = time.perf_counter()
        self.send_text(user_id, user_id, "/start")

    async def run_users(
        self, first: int, count: int, rate: float | None, timeout: float, enforce_limits: bool
    ) -> dict:
        """`count` new users send /start: all at once (rate None) or `rate` per second. Returns the
        figures once every one of them got an answer."""
        self.enforce_limits = enforce_limits
        users = range(first, first + count)
        requests, limited = self.stats["requests"], self.stats["rate_limited"]
        started = time.perf_counter()
        for i, user_id in enumerate(users):
            if rate is not None:
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            self.new_user_starts(user_id)
        self._all_answered.clear()  # set again by call() when the last of them is answered
        if self._waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._all_answered.wait(), timeout)
        answered = [u for u in users if u in self.answered_at]
        unanswered, self._waiting = len(self._waiting), set()
        return {
            "wall_s": max((self.answered_at[u] for u in answered), default=started) - started,
            "latencies_s": sorted(self.answered_at[u] - self.sent_at[u] for u in answered),
            "requests": self.stats["requests"] - requests,
            "rate_limited": self.stats["rate_limited"] - limited,
            "unanswered": unanswered,
        }


def emulator_process(conn: Connection) -> None:
    async def serve() -> None:
        tg = TimedEmulator()
        await tg.start()
        conn.send((tg.url, tg.token))
        loop = asyncio.get_running_loop()
        while (request := await loop.run_in_executor(None, conn.recv))[0] != "stop":
            try:
                conn.send(await tg.run_users(*request[1:]))
            except Exception:
                conn.send(Failure(traceback.format_exc()))
        await tg.stop()

    asyncio.run(serve())


# --- a bot's process ---------------------------------------------------------------------------------


async def build_bare(api_url: str, token: str, welcome: bool = False) -> Any:
    from html import escape

    from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
    from telegram.constants import ParseMode
    from telegram.ext import ApplicationBuilder, CommandHandler, ContextTypes

    from bot.send_rate import SendRateLimiter

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_user is not None
        if not welcome:
            await update.effective_message.reply_text(BARE_REPLY)
            return
        await update.effective_message.reply_text(
            WELCOME_REPLY.format(name=escape(update.effective_user.first_name)),
            parse_mode=ParseMode.HTML,
            reply_markup=InlineKeyboardMarkup(
                [[InlineKeyboardButton("🔗 Connect panel", callback_data="acc:connect")]]
            ),
        )

    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .rate_limiter(SendRateLimiter(max_retries=3))  # as bot/app.py (bot/send_rate.py imports only PTB)
        .concurrent_updates(64)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    return app


async def build_ours(api_url: str, token: str, db_url: str, data_dir: str) -> Any:
    from bot.app import build_application, freeze_startup_heap
    from bot.config import load_settings
    from storage.db import migrate

    await migrate(db_url)
    settings = load_settings(
        TELEGRAM_BOT_TOKEN=token,
        SMMBOT_TELEGRAM_API_URL=api_url,
        SMMBOT_DATA_DIR=data_dir,
        SMMBOT_DATABASE_URL=db_url,
        SMMBOT_PANEL_URL="http://127.0.0.1:9/api/v2",  # /start of a new user asks no panel
        SMMBOT_ADMIN_IDS="",
        SMMBOT_LISTEN="",  # no /healthz server: nothing to collide with
        SMMBOT_WEBHOOK_URL="",
        SMMBOT_POLL_INTERVAL="3600",
        SMMBOT_BALANCE_INTERVAL="3600",
    )
    app = build_application(settings)
    freeze_startup_heap()  # as bot.app.run_bot does
    return app


async def start_polling(app: Any) -> None:
    """The steps of Application.run_polling, in its order, without taking over the event loop. (As
    bot.app.start_in_loop, written again here: the bare bot's process must not import our bot.)"""
    from telegram import Update

    await app.initialize()
    if app.post_init:
        await app.post_init(app)
    await app.start()
    await app.updater.start_polling(poll_interval=0, timeout=10, allowed_updates=Update.ALL_TYPES)


async def stop_polling(app: Any) -> None:
    if app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    if app.post_stop:
        await app.post_stop(app)
    await app.shutdown()
    if app.post_shutdown:
        await app.post_shutdown(app)


def profile_report(profiler: cProfile.Profile, out: str | None) -> str:
    """Top 25 by cumulative and by own time, then our own functions (bot/, handlers/, storage/) by
    cumulative time. The clock is the process's CPU time. cProfile counts a coroutine's every resumption
    as a call, and SQLAlchemy's greenlet switches confuse its stack: cumulative times add up to more than
    the run took. Own time (tottime) is exact; use cumulative to rank, not to add up."""
    if out:
        profiler.dump_stats(out)
    text = io.StringIO()
    root = REPO_ROOT
    ours = pstats.Stats(profiler, stream=text)
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    for order in ("cumulative", "tottime"):
        text.write(f"--- sorted by {order}, top 25 ---\n")
        stats.sort_stats(order).print_stats(25)
    text.write("--- our code only (bot/, handlers/, storage/), sorted by cumulative, top 25 ---\n")
    ours.sort_stats("cumulative").print_stats(rf"^{root}(bot|handlers|storage)/", 25)
    text.write(own_time_by_package(ours, root))
    return text.getvalue().replace(root, "")


def own_time_by_package(stats: pstats.Stats, root: str) -> str:
    """Own time summed per installed package (sqlalchemy, telegram, httpx ...), per folder of ours, and per
    standard-library module: where the CPU goes, without cumulative time's double counting."""
    by: Counter[str] = Counter()
    for (filename, _line, function), (_cc, _nc, own, _cum, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        if "site-packages/" in filename:
            key = filename.split("site-packages/", 1)[1].split("/", 1)[0]
        elif filename.startswith(root):
            key = filename[len(root) :].split("/", 1)[0] + "/ (ours)"
        elif filename == "~":
            key = function.strip("<>")[:50]
        else:
            key = "stdlib " + Path(filename).name
        by[key] += own
    total = sum(by.values()) or 1.0
    lines = ["--- own time by package, top 15 ---"]
    lines += [f"{seconds:8.3f}s {seconds / total:6.1%}  {key}" for key, seconds in by.most_common(15)]
    return "\n".join(lines) + "\n"


class Sampler:
    """The process's CPU time, and every SQL statement and commit any engine of this process runs (through
    SQLAlchemy's engine events, so no code of ours is touched)."""

    def __init__(self, count_sql: bool) -> None:
        self.statements: Counter[str] = Counter()
        self.commits = 0
        if count_sql:
            from sqlalchemy import event
            from sqlalchemy.engine import Engine

            event.listen(Engine, "before_cursor_execute", self._statement)
            event.listen(Engine, "commit", self._commit)

    def _statement(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements[" ".join(statement.split())[:90]] += 1

    def _commit(self, conn: Any) -> None:
        self.commits += 1

    def sample(self) -> dict[str, Any]:
        return {"cpu": time.process_time(), "statements": Counter(self.statements), "commits": self.commits}


def bot_process(conn: Connection, kind: str, api_url: str, token: str, db_url: str, data_dir: str) -> None:
    logging.basicConfig(level=logging.WARNING, format=f"[{kind}] %(levelname)s %(name)s: %(message)s")

    async def serve() -> None:
        try:
            if kind.startswith("bare"):
                app = await build_bare(api_url, token, welcome=kind == "bare_welcome")
            else:
                app = await build_ours(api_url, token, db_url, data_dir)
            await start_polling(app)
        except Exception:
            conn.send(Failure(traceback.format_exc()))
            return
        conn.send("ready")
        sampler = Sampler(count_sql=not kind.startswith("bare"))
        loop = asyncio.get_running_loop()
        profiler = cProfile.Profile(time.process_time)  # CPU time: waits and other processes do not count
        while (request := await loop.run_in_executor(None, conn.recv))[0] != "stop":
            # Back on the event loop's thread: cProfile profiles the thread that enables it.
            if request[0] == "sample":
                conn.send(sampler.sample())
            elif request[0] == "profile":
                profiler.enable()
                conn.send(None)
            elif request[0] == "profile_report":
                profiler.disable()
                conn.send(profile_report(profiler, request[1]))
        await stop_polling(app)
        conn.send(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)

    asyncio.run(serve())

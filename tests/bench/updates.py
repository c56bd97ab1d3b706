"""Benchmark: CPU per update and latency of our bot, side by side with a bare python-telegram-bot bot.

Run: `.venv/bin/python tests/bench/updates.py` (about two minutes; `--quick` for a smoke run of about half
a minute, `--users N`, `--rate R`, `--no-postgres`). Prints `name: value` lines.
Profile: `.venv/bin/python tests/bench/updates.py --profile [--db sqlite|postgres] [--profile-out FILE]`
prints cProfile's top 25 (by cumulative and by own time, then our code alone, then own time summed per
package) of our bot's process over the burst, on PostgreSQL unless `--db sqlite`.

Processes as in production: the Bot API emulator (bot/sandbox/botapi.py, enforcing Telegram's flood
limits: 30 messages/s overall) runs in a process of its own; each bot runs in a process of its own and
long-polls it; this script only drives them over pipes. The bots, measured in the same run:

- `bare`: an Application with one CommandHandler for /start that replies with a short text, no database,
  with the same AIORateLimiter and concurrency as ours;
- `ours_sqlite`, `ours_postgres`: bot.app.build_application(settings), exactly as `smmbot run` builds it
  (rate limiter included), on a migrated database (PostgreSQL started as tests/pg.py does).

For each bot, after a warm-up: a burst of N new users' /start put into the emulator at once.
`cpu_ms_per_update` is the bot process's CPU time (time.process_time() read inside that process, so every
thread counts: aiosqlite's too) over the burst, divided by N. `burst_answers_per_s` and `rate_limited_429`
tell whether the burst went out at the configured overall send rate (AIORateLimiter's 30/s) with no 429
from the emulator. (AIORateLimiter's default bucket lets 30 go at once and then 30 a second: up to 60 in
the first second, which the emulator's 30-per-second window answers with 429s; each costs a retry a
second later.) For ours
also a steady stream of new users' /start at `--rate` per second: `p50_ms`/`p99_ms` from the moment the
update is put into the emulator to the moment the emulator receives the bot's answer (both stamped by the
emulator's clock; the long-poll pickup is included). The emulator does not enforce the flood limits during
that stream: 30 answers/s sit exactly at its 30-per-second window, so one early tick would turn into a
429 and a one-second retry; the stream measures the bot (its own rate limiter still runs), the burst
measures the pacing. `idle_cpu_ms_per_s`: the bot's CPU while nothing happens (long poll, timers),
measured before the burst. `sql_statements_per_update` and
`sql_commits_per_update` count what every SQLAlchemy engine of the bot's process ran over the burst (engine
events; the `#` lines after the figures list the statements), background jobs included.

`*_unanswered` must be 0: a user who never got an answer (e.g. a reply dropped after the rate limiter's
retries ran out). The bare bot uses python-telegram-bot's AIORateLimiter(max_retries=3), as bot/app.py
does today.

Targets of issue 9: `ours_*_cpu_ratio_to_bare` at most 2, `ours_*_p99_ms` at most 30 at 30 updates/s. The
machine's load moves every figure: compare figures of one run, not of different runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import logging
import multiprocessing as mp
import os
import pstats
import resource
import sys
import tempfile
import time
import traceback
from collections import Counter
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from bot.sandbox.botapi import BotApiEmulator

CONFIGURED_SEND_RATE = 30  # AIORateLimiter's default overall_max_rate, which bot/app.py keeps
WARMUP_USERS = 30  # first calls import and compile lazily: not measured
IDLE_S = 1.5  # also lets the rate limiter's bucket drain between phases
# Work of an update done after its answer went out counts too: state written at the update's end, or
# python-telegram-bot's persistence flush, once a second in bot/app.py today.
SETTLE_S = 1.5
BARE_REPLY = "Hello! I am a bare bot."


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


async def build_bare(api_url: str, token: str) -> Any:
    from telegram import Update
    from telegram.ext import AIORateLimiter, ApplicationBuilder, CommandHandler, ContextTypes

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(BARE_REPLY)

    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .rate_limiter(AIORateLimiter(max_retries=3))
        .concurrent_updates(64)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    return app


async def build_ours(api_url: str, token: str, db_url: str, data_dir: str) -> Any:
    from bot.app import build_application
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
    return build_application(settings)


async def start_polling(app: Any) -> None:
    """The steps of Application.run_polling, in its order, without taking over the event loop."""
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
    root = str(Path(__file__).resolve().parents[2]) + "/"
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
            if kind == "bare":
                app = await build_bare(api_url, token)
            else:
                app = await build_ours(api_url, token, db_url, data_dir)
            await start_polling(app)
        except Exception:
            conn.send(Failure(traceback.format_exc()))
            return
        conn.send("ready")
        sampler = Sampler(count_sql=kind != "bare")
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


# --- the driver ----------------------------------------------------------------------------------------


class Child:
    """A spawned process driven over a pipe."""

    def __init__(self, name: str, target: Any, *args: Any) -> None:
        context = mp.get_context("spawn")  # a clean interpreter: nothing of this process is inherited
        self.name = name
        self.conn, theirs = context.Pipe()
        self.process = context.Process(target=target, args=(theirs, *args), daemon=True, name=name)
        self.process.start()
        theirs.close()

    def ask(self, *request: Any, timeout: float = 120.0) -> Any:
        """Send `request` (if any) and wait for the answer; a child's traceback or death raises."""
        if request:
            self.conn.send(request)
        if not self.conn.poll(timeout):
            raise RuntimeError(f"{self.name} did not answer {request!r} within {timeout:.0f}s")
        try:
            answer = self.conn.recv()
        except EOFError:
            self.process.join(5)
            raise RuntimeError(f"{self.name} died (exit code {self.process.exitcode})") from None
        if isinstance(answer, Failure):
            raise RuntimeError(f"{self.name} failed:\n{answer}")
        return answer

    def close(self) -> None:
        self.process.join(10)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(5)


class Users:
    """Fresh user ids: every phase talks to users the bot has never seen."""

    def __init__(self) -> None:
        self.next = 10_000

    def take(self, count: int) -> int:
        first, self.next = self.next, self.next + count
        return first


def percentile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_bot(
    tg: Child, users: Users, kind: str, db_url: str, tmp: Path, args: argparse.Namespace, api: tuple
) -> dict[str, Any]:
    """One bot in its own process: warm-up, idle CPU, the burst (CPU, rate, 429s), then for ours the steady
    stream (latency). Returns the figures."""
    bot = Child(f"bot-{kind}", bot_process, kind, *api, db_url, str(tmp / f"data-{kind}"))
    figures: dict[str, Any] = {}
    try:
        bot.ask()  # "ready"
        timeout = 15 + args.users / 15  # the burst needs users / 30 s at the configured rate
        tg.ask("users", users.take(WARMUP_USERS), WARMUP_USERS, None, timeout, True, timeout=timeout + 10)
        time.sleep(IDLE_S)  # the warm-up's state written, the rate limiter's bucket drained
        before = bot.ask("sample")
        time.sleep(IDLE_S)
        figures["idle_cpu_ms_per_s"] = (bot.ask("sample")["cpu"] - before["cpu"]) * 1000 / IDLE_S
        if args.profile:
            bot.ask("profile")
        before = bot.ask("sample")
        # Under the profiler everything is slower and the limits would profile 429 retries instead.
        enforce = not args.profile
        burst = tg.ask(
            "users", users.take(args.users), args.users, None, timeout, enforce, timeout=timeout + 10
        )
        time.sleep(SETTLE_S)
        after = bot.ask("sample")
        figures["cpu_ms_per_update"] = (after["cpu"] - before["cpu"]) * 1000 / args.users
        if args.profile:
            figures["profile"] = bot.ask("profile_report", args.profile_out)
        if kind != "bare":
            statements = after["statements"] - before["statements"]
            figures["sql_statements_per_update"] = statements.total() / args.users
            figures["sql_commits_per_update"] = (after["commits"] - before["commits"]) / args.users
            figures["sql_by_statement"] = statements
        figures["burst_s"] = burst["wall_s"]
        figures["burst_answers_per_s"] = args.users / burst["wall_s"]
        figures["rate_limited_429"] = burst["rate_limited"]
        figures["requests_per_update"] = burst["requests"] / args.users
        figures["unanswered"] = burst["unanswered"]
        if kind != "bare" and args.steady and not args.profile:
            time.sleep(IDLE_S)
            first = users.take(args.steady)
            steady = tg.ask("users", first, args.steady, args.rate, timeout, False, timeout=timeout + 10)
            latencies = steady["latencies_s"]
            figures["p50_ms"] = percentile(latencies, 0.50) * 1000
            figures["p90_ms"] = percentile(latencies, 0.90) * 1000
            figures["p99_ms"] = percentile(latencies, 0.99) * 1000
            figures["max_ms"] = percentile(latencies, 1.0) * 1000
            figures["steady_unanswered"] = steady["unanswered"]
        figures["max_rss_mb"] = bot.ask("stop")
    finally:
        bot.close()
    return figures


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=300, help="new users in the burst (default 300)")
    parser.add_argument(
        "--steady", type=int, default=None, help="updates of the steady stream (default: --users)"
    )
    parser.add_argument("--rate", type=float, default=30.0, help="updates per second of the steady stream")
    parser.add_argument("--quick", action="store_true", help="a smoke run: 40 users, 40 steady updates")
    parser.add_argument("--no-postgres", action="store_true", help="skip ours on PostgreSQL")
    parser.add_argument("--profile", action="store_true", help="profile ours over the burst instead")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="postgres", help="with --profile")
    parser.add_argument(
        "--profile-out", default=None, help="with --profile: also dump the stats to this file"
    )
    args = parser.parse_args()
    if args.quick:
        args.users = 40
        args.steady = args.steady or 40
    if args.steady is None:
        args.steady = args.users
    return args


def main() -> None:
    args = parse_args()
    from tests.pg import PostgresServer, PostgresUnavailable, start_local_server

    pg: PostgresServer | None = None
    wanted = ["ours_sqlite", "ours_postgres"]
    if args.profile:
        wanted = [f"ours_{args.db}"]
    elif args.no_postgres:
        wanted = ["ours_sqlite"]
    if "ours_postgres" in wanted:
        try:
            pg = start_local_server()
        except PostgresUnavailable as exc:
            print(f"# PostgreSQL skipped: {exc}")
            wanted.remove("ours_postgres")
    results: dict[str, dict[str, Any]] = {}
    tg = Child("emulator", emulator_process)
    try:
        api = tg.ask()
        users = Users()
        with tempfile.TemporaryDirectory() as tmp:
            for kind in ([] if args.profile else ["bare"]) + wanted:
                db_url = ""
                if kind == "ours_sqlite":
                    db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
                elif kind == "ours_postgres":
                    assert pg is not None
                    db_url = asyncio.run(pg.acreate_database("bench_updates"))
                results[kind] = measure_bot(tg, users, kind, db_url, Path(tmp), args, api)
    finally:
        tg.conn.send(("stop",))
        tg.close()
        if pg is not None:
            pg.stop()
    report(results, args)


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"users: {args.users}")
    print(f"configured_send_rate_per_s: {CONFIGURED_SEND_RATE}")
    if not args.profile:
        print(f"steady_updates: {args.steady}")
        print(f"steady_rate_per_s: {args.rate:g}")
    bare = results.get("bare")
    for kind, figures in results.items():
        for name, value in figures.items():
            if name in ("profile", "sql_by_statement"):
                continue
            shown = f"{value:.2f}" if isinstance(value, float) else value
            print(f"{kind}_{name}: {shown}")
        if bare is not None and kind != "bare":
            print(f"{kind}_cpu_ratio_to_bare: {figures['cpu_ms_per_update'] / bare['cpu_ms_per_update']:.1f}")
    for kind, figures in results.items():
        if "sql_by_statement" in figures:
            print(f"# {kind}: SQL statements per update in the burst, by statement")
            for statement, count in figures["sql_by_statement"].most_common(12):
                print(f"#   {count / args.users:5.2f}  {statement}")
        if "profile" in figures:
            print(f"# cProfile of {kind}'s process over the burst of {args.users} new users' /start")
            print(figures["profile"].rstrip())


if __name__ == "__main__":
    main()

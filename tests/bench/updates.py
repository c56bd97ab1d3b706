"""Benchmark: CPU per update and latency of our bot, side by side with a bare python-telegram-bot bot.

Run: `.venv/bin/python tests/bench/updates.py` (about two minutes; `--quick` for a smoke run of about half
a minute, `--users N`, `--rate R`, `--no-postgres`). Prints `name: value` lines.
Profile: `.venv/bin/python tests/bench/updates.py --profile [--db sqlite|postgres|bare] [--profile-out FILE]`
prints cProfile's top 25 (by cumulative and by own time, then our code alone, then own time summed per
package) of our bot's process over the burst, on PostgreSQL unless `--db sqlite`.

Processes as in production: each bot runs in a process of its own and long-polls a Bot API emulator
(bot/sandbox/botapi.py, enforcing Telegram's flood limits: 30 messages/s overall) of its own, in a process
of its own; this script only drives them over pipes. The bots, measured in the same run:

- `bare`: an Application with one CommandHandler for /start that replies with a short text, no database,
  with the same rate limiter and concurrency as ours (the baseline issue 9 names);
- `bare_welcome`: the same bare bot, replying with a message of the size and shape of our welcome (HTML,
  the same text, one button): PTB's form encoding alone costs more per character of a longer answer, so the
  ratio to it tells our machinery's cost apart from the length of what we say;
- `ours_sqlite`, `ours_postgres`: bot.app.build_application(settings), exactly as `smmbot run` builds it
  (rate limiter included), on a migrated database (PostgreSQL started as tests/pg.py does).

All bots are started, warmed up, and then take turns: `--rounds` rounds (default 3) of one burst per bot,
a burst being N new users' /start put into the bot's emulator at once. `cpu_ms_per_update` is the bot
process's CPU time (time.process_time() read inside that process, so every thread counts: aiosqlite's too)
over a burst, divided by N: the median over the rounds (each round's figure is in a `#` line). The ratios
to the bare bots are taken per round and their median printed: these machines' speed drifts over a run,
and the bursts of one round see the same drift. While a bot is measured, the other bots and their
emulators are stopped (SIGSTOP), so their timers take none of the machine.
`burst_answers_per_s` and `rate_limited_429` tell whether the burst went out at the configured overall
send rate (bot/send_rate.py: at most 30 sends in any second, a sliding window) with no 429 from the
emulator. (AIORateLimiter's default bucket lets 30 go at once and then 30 a second: up to 60 in the first
second, which the emulator's 30-per-second window answers with 429s; each costs a retry a second later.)

For every bot also a steady stream of new users' /start at `--rate` per second: `p50_ms`/`p99_ms` from
the moment the update is put into the emulator to the moment the emulator receives the bot's answer (both
stamped by the emulator's clock; the long-poll pickup is included). The emulator does not enforce the flood
limits during that stream (the stream measures the bot; the burst measures the pacing). The bot's own
limiter still runs, and at `--rate 30` it sits at its limit: a send counts in the window from its start
until a second after its answer came back (Telegram stamps it somewhere in between, so that is the only
count that never exceeds 30 in Telegram's second), so 30 sends take a second plus one request's duration,
and a stream of exactly 30 a second falls behind by about that duration every second: its latencies grow
with the stream's length, for the bare bot as for ours. `--rate 25` measures the bot below the limit.
`idle_cpu_ms_per_s`: the bot's CPU while nothing happens (long poll, timers),
measured before the burst. `sql_statements_per_update` and
`sql_commits_per_update` count what every SQLAlchemy engine of the bot's process ran over the burst (engine
events; the `#` lines after the figures list the statements), background jobs included. On PostgreSQL add
the chat lock's two statements, which go to asyncpg directly (bot/conversation.py).

`*_unanswered` must be 0: a user who never got an answer (e.g. a reply dropped after the rate limiter's
retries ran out). The bare bot uses the same rate limiter as bot/app.py (bot/send_rate.py).

Targets of issue 9: `ours_*_cpu_ratio_to_bare` at most 2, `ours_*_p99_ms` at most 30 at 30 updates/s. The
machine's load moves every figure: compare figures of one run, not of different runs.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from statistics import median
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from tests.bench.updates_processes import Failure, bot_process, emulator_process

CONFIGURED_SEND_RATE = 30  # bot/send_rate.py: at most 30 sends in any second
WARMUP_USERS = 30  # first calls import and compile lazily: not measured
IDLE_S = 1.5  # also lets the rate limiter's bucket drain between phases
# Work of an update done after its answer went out counts too: state written at the update's end, or
# python-telegram-bot's persistence flush, once a second in bot/app.py today.
SETTLE_S = 1.5


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


class Bot:
    """One bot in a process of its own, with a Bot API emulator of its own (an emulator serves one bot)."""

    def __init__(self, kind: str, db_url: str, tmp: Path) -> None:
        self.kind = kind
        self.tg = Child(f"emulator-{kind}", emulator_process)
        self.bot: Child | None = None
        self.tg_api = self.tg.ask()
        self.bot = Child(f"bot-{kind}", bot_process, kind, *self.tg_api, db_url, str(tmp / f"data-{kind}"))
        self.bot.ask()  # "ready"

    def users(self, first: int, count: int, rate: float | None, timeout: float, enforce: bool) -> dict:
        return self.tg.ask("users", first, count, rate, timeout, enforce, timeout=timeout + 10)

    def ask(self, *request: Any) -> Any:
        assert self.bot is not None
        return self.bot.ask(*request)

    def pause(self, paused: bool) -> None:
        """Stop (SIGSTOP) or continue the bot's and its emulator's processes: while one bot is measured,
        the others' timers and long polls must not take the machine's CPU or caches."""
        for child in (self.bot, self.tg):
            if child is not None and child.process.pid is not None and child.process.is_alive():
                os.kill(child.process.pid, signal.SIGSTOP if paused else signal.SIGCONT)

    def close(self) -> float | None:
        self.pause(False)
        rss = None
        try:
            if self.bot is not None and self.bot.process.is_alive():
                rss = self.bot.ask("stop")
        finally:
            if self.bot is not None:
                self.bot.close()
            self.tg.conn.send(("stop",))
            self.tg.close()
        return rss


def burst(bot: Bot, users: Users, args: argparse.Namespace, timeout: float) -> dict[str, Any]:
    """N new users' /start at once: the bot's CPU per update, its SQL, and how the answers went out."""
    before = bot.ask("sample")
    # Under the profiler everything is slower and the limits would profile 429 retries instead.
    sent = bot.users(users.take(args.users), args.users, None, timeout, not args.profile)
    time.sleep(SETTLE_S)
    after = bot.ask("sample")
    return {
        "cpu_ms_per_update": (after["cpu"] - before["cpu"]) * 1000 / args.users,
        "statements": after["statements"] - before["statements"],
        "commits": after["commits"] - before["commits"],
        **sent,
    }


@contextmanager
def alone(bots: dict[str, Bot], kind: str) -> Iterator[Bot]:
    """Only `kind`'s processes run meanwhile (the others are stopped)."""
    for other, bot in bots.items():
        if other != kind:
            bot.pause(True)
    try:
        yield bots[kind]
    finally:
        for other, bot in bots.items():
            if other != kind:
                bot.pause(False)


def measure(bots: dict[str, Bot], users: Users, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Warm-up and idle CPU of each bot, then `--rounds` rounds of one burst per bot, bots taking turns:
    the machine's load drifts over a run, and a round's bursts see the same load (the ratios are taken per
    round, their median reported). Then the steady stream, for `bare` and ours."""
    timeout = 15 + args.users / 15  # the burst needs users / 30 s at the configured rate
    figures: dict[str, dict[str, Any]] = {kind: {} for kind in bots}
    for bot in bots.values():
        bot.users(users.take(WARMUP_USERS), WARMUP_USERS, None, timeout, True)
    time.sleep(IDLE_S)  # the warm-up's state written, the rate limiters' windows emptied
    for kind in bots:
        with alone(bots, kind) as bot:
            before = bot.ask("sample")
            time.sleep(IDLE_S)
            figures[kind]["idle_cpu_ms_per_s"] = (bot.ask("sample")["cpu"] - before["cpu"]) * 1000 / IDLE_S
    rounds: dict[str, list[dict[str, Any]]] = {kind: [] for kind in bots}
    for _ in range(args.rounds):
        for kind in bots:
            with alone(bots, kind) as bot:
                if args.profile:
                    bot.ask("profile")
                rounds[kind].append(burst(bot, users, args, timeout))
                if args.profile:
                    figures[kind]["profile"] = bot.ask("profile_report", args.profile_out)
    for kind, results in rounds.items():
        f = figures[kind]
        f["cpu_ms_per_update"] = median(r["cpu_ms_per_update"] for r in results)
        f["cpu_ms_per_update_rounds"] = [r["cpu_ms_per_update"] for r in results]
        total_users = args.users * len(results)
        if kind.startswith("ours"):
            statements = sum((r["statements"] for r in results), Counter())
            f["sql_statements_per_update"] = statements.total() / total_users
            f["sql_commits_per_update"] = sum(r["commits"] for r in results) / total_users
            f["sql_by_statement"] = statements
        f["burst_s"] = median(r["wall_s"] for r in results)
        f["burst_answers_per_s"] = args.users / f["burst_s"]
        f["rate_limited_429"] = sum(r["rate_limited"] for r in results)
        f["requests_per_update"] = sum(r["requests"] for r in results) / total_users
        f["unanswered"] = sum(r["unanswered"] for r in results)
    if args.steady and not args.profile:
        for kind in bots:
            with alone(bots, kind) as bot:
                time.sleep(IDLE_S)
                steady = bot.users(users.take(args.steady), args.steady, args.rate, timeout, False)
            latencies = steady["latencies_s"]
            f = figures[kind]
            f["p50_ms"] = percentile(latencies, 0.50) * 1000
            f["p90_ms"] = percentile(latencies, 0.90) * 1000
            f["p99_ms"] = percentile(latencies, 0.99) * 1000
            f["max_ms"] = percentile(latencies, 1.0) * 1000
            f["steady_unanswered"] = steady["unanswered"]
    for kind in bots:
        ratios = {}
        for baseline in ("bare", "bare_welcome"):
            if kind.startswith("ours") and baseline in rounds:
                pairs = zip(rounds[kind], rounds[baseline], strict=True)
                ratios[baseline] = median(r["cpu_ms_per_update"] / b["cpu_ms_per_update"] for r, b in pairs)
        figures[kind]["ratios"] = ratios
    return figures


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=300, help="new users in the burst (default 300)")
    parser.add_argument(
        "--steady", type=int, default=None, help="updates of the steady stream (default: --users)"
    )
    parser.add_argument("--rate", type=float, default=30.0, help="updates per second of the steady stream")
    parser.add_argument("--rounds", type=int, default=3, help="bursts per bot, bots taking turns (default 3)")
    parser.add_argument(
        "--quick", action="store_true", help="a smoke run: 40 users, 40 steady updates, 1 round"
    )
    parser.add_argument("--no-postgres", action="store_true", help="skip ours on PostgreSQL")
    parser.add_argument("--profile", action="store_true", help="profile ours over the burst instead")
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgres", "bare", "bare_welcome"),
        default="postgres",
        help="with --profile: whose",
    )
    parser.add_argument(
        "--profile-out", default=None, help="with --profile: also dump the stats to this file"
    )
    args = parser.parse_args()
    if args.quick:
        args.users = 40
        args.steady = args.steady or 40
        args.rounds = 1
    if args.steady is None:
        args.steady = args.users
    return args


def main() -> None:
    args = parse_args()
    from tests.pg import PostgresServer, PostgresUnavailable, start_local_server

    pg: PostgresServer | None = None
    kinds = ["bare", "bare_welcome", "ours_sqlite", "ours_postgres"]
    if args.profile:
        kinds = [args.db] if args.db.startswith("bare") else [f"ours_{args.db}"]
        args.rounds = 1
    elif args.no_postgres:
        kinds.remove("ours_postgres")
    if "ours_postgres" in kinds:
        try:
            pg = start_local_server()
        except PostgresUnavailable as exc:
            print(f"# PostgreSQL skipped: {exc}")
            kinds.remove("ours_postgres")
    bots: dict[str, Bot] = {}
    rss: dict[str, float | None] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for kind in kinds:
                db_url = ""
                if kind == "ours_sqlite":
                    db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
                elif kind == "ours_postgres":
                    assert pg is not None
                    db_url = asyncio.run(pg.acreate_database("bench_updates"))
                bots[kind] = Bot(kind, db_url, Path(tmp))
            results = measure(bots, Users(), args)
            for kind, bot in bots.items():
                rss[kind] = bot.close()
    finally:
        for bot in bots.values():
            if bot.bot is not None and bot.bot.process.is_alive():
                bot.close()
        if pg is not None:
            pg.stop()
    for kind, value in rss.items():
        results[kind]["max_rss_mb"] = value
    report(results, args)


def report(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    print(f"users: {args.users}")
    print(f"configured_send_rate_per_s: {CONFIGURED_SEND_RATE}")
    if not args.profile:
        print(f"steady_updates: {args.steady}")
        print(f"steady_rate_per_s: {args.rate:g}")
    print(f"rounds: {args.rounds}")
    for kind, figures in results.items():
        for name, value in figures.items():
            if name in ("profile", "sql_by_statement", "ratios", "cpu_ms_per_update_rounds"):
                continue
            shown = f"{value:.2f}" if isinstance(value, float) else value
            print(f"{kind}_{name}: {shown}")
        for baseline, ratio in figures["ratios"].items():
            print(f"{kind}_cpu_ratio_to_{baseline}: {ratio:.2f}")
    for kind, figures in results.items():
        per_round = ", ".join(f"{v:.2f}" for v in figures["cpu_ms_per_update_rounds"])
        print(f"# {kind}: cpu_ms_per_update per round: {per_round}")
    if "ours_postgres" in results:
        print(
            "# ours_postgres: the chat lock's pg_advisory_lock and pg_advisory_unlock (2 statements per"
            " update) go to asyncpg directly (bot/conversation.py): not in its sql_statements_per_update"
        )
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

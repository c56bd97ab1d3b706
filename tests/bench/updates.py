"""Benchmark: CPU per update and latency of our bot, side by side with a bare python-telegram-bot bot.

Run: `.venv/bin/python tests/bench/updates.py` (about two minutes; `--quick` for a smoke run of about half
a minute, `--users N`, `--rate R`, `--no-postgres`). Prints `name: value` lines.
Profile: `.venv/bin/python tests/bench/updates.py --profile [--db sqlite|postgres|bare] [--profile-out FILE]`
prints cProfile's top 25 (by cumulative and by own time, then our code alone, then own time summed per
package) of our bot's process over the burst, on PostgreSQL unless `--db sqlite`.

Processes as in production: the Bot API emulator (bot/sandbox/botapi.py, enforcing Telegram's flood
limits: 30 messages/s overall) runs in a process of its own; each bot runs in a process of its own and
long-polls it; this script only drives them over pipes. The bots, measured in the same run:

- `bare`: an Application with one CommandHandler for /start that replies with a short text, no database,
  with the same rate limiter and concurrency as ours (the baseline issue 9 names);
- `bare_welcome`: the same bare bot, replying with a message of the size and shape of our welcome (HTML,
  the same text, one button): PTB's form encoding alone costs more per character of a longer answer, so the
  ratio to it tells our machinery's cost apart from the length of what we say;
- `ours_sqlite`, `ours_postgres`: bot.app.build_application(settings), exactly as `smmbot run` builds it
  (rate limiter included), on a migrated database (PostgreSQL started as tests/pg.py does).

For each bot, after a warm-up: a burst of N new users' /start put into the emulator at once.
`cpu_ms_per_update` is the bot process's CPU time (time.process_time() read inside that process, so every
thread counts: aiosqlite's too) over the burst, divided by N. `burst_answers_per_s` and `rate_limited_429`
tell whether the burst went out at the configured overall send rate (bot/send_rate.py: at most 30 sends in
any second, a sliding window) with no 429 from the emulator. (AIORateLimiter's default bucket lets 30 go at
once and then 30 a second: up to 60 in the first second, which the emulator's 30-per-second window answers
with 429s; each costs a retry a second later.) For ours and `bare`
also a steady stream of new users' /start at `--rate` per second: `p50_ms`/`p99_ms` from the moment the
update is put into the emulator to the moment the emulator receives the bot's answer (both stamped by the
emulator's clock; the long-poll pickup is included). The emulator does not enforce the flood limits during
that stream: 30 answers/s sit exactly at its 30-per-second window, so one early tick would turn into a
429 and a one-second retry; the stream measures the bot (its own rate limiter still runs), the burst
measures the pacing. At `--rate 30` the bot's own limiter (never more than 30 sends in a second) sits at
its limit too: an answer can only go a second after the answer 30 before it, so a late answer makes every
30th one after it late as well and the stream's latencies ratchet up (with AIORateLimiter's default
bucket they do not, because it allows the bursts that cause the 429s). `--rate 25` measures the bot
below the limit. `idle_cpu_ms_per_s`: the bot's CPU while nothing happens (long poll, timers),
measured before the burst. `sql_statements_per_update` and
`sql_commits_per_update` count what every SQLAlchemy engine of the bot's process ran over the burst (engine
events; the `#` lines after the figures list the statements), background jobs included.

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
import sys
import tempfile
import time
from pathlib import Path
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
        if kind.startswith("ours"):
            statements = after["statements"] - before["statements"]
            figures["sql_statements_per_update"] = statements.total() / args.users
            figures["sql_commits_per_update"] = (after["commits"] - before["commits"]) / args.users
            figures["sql_by_statement"] = statements
        figures["burst_s"] = burst["wall_s"]
        figures["burst_answers_per_s"] = args.users / burst["wall_s"]
        figures["rate_limited_429"] = burst["rate_limited"]
        figures["requests_per_update"] = burst["requests"] / args.users
        figures["unanswered"] = burst["unanswered"]
        if kind != "bare_welcome" and args.steady and not args.profile:
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
    if args.steady is None:
        args.steady = args.users
    return args


def main() -> None:
    args = parse_args()
    from tests.pg import PostgresServer, PostgresUnavailable, start_local_server

    pg: PostgresServer | None = None
    wanted = ["ours_sqlite", "ours_postgres"]
    if args.profile:
        wanted = [args.db] if args.db.startswith("bare") else [f"ours_{args.db}"]
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
            for kind in ([] if args.profile else ["bare", "bare_welcome"]) + wanted:
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
    bare, bare_welcome = results.get("bare"), results.get("bare_welcome")
    for kind, figures in results.items():
        for name, value in figures.items():
            if name in ("profile", "sql_by_statement"):
                continue
            shown = f"{value:.2f}" if isinstance(value, float) else value
            print(f"{kind}_{name}: {shown}")
        for baseline, name in ((bare, "bare"), (bare_welcome, "bare_welcome")):
            if baseline is not None and kind.startswith("ours"):
                ratio = figures["cpu_ms_per_update"] / baseline["cpu_ms_per_update"]
                print(f"{kind}_cpu_ratio_to_{name}: {ratio:.2f}")
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

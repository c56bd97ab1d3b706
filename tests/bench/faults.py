"""Benchmark: nothing lost when everything goes wrong at once.

Run: `.venv/bin/python tests/bench/faults.py [orders] [seed]` (defaults 1000, 1). Prints `name: value` lines.

1,000 orders (50 chats, one panel account each) are placed evenly over 150 s and change status at the panel
simulator, whose clock runs TIME_SCALE times faster than real time: each goes Pending -> In progress ->
Completed (some Partial) within 5-50 s. About 2,000 notices, ~10/s on average: Telegram takes 30/s at most,
and a backlog after an outage needs that headroom to drain. The bot is the real `python -m bot run` in a
subprocess of its own (long polling against the Bot API emulator, SQLite). Meanwhile:
- the bot process is killed with SIGKILL 5 times at random moments and started again 0.5-3 s later;
- Telegram fails every sendMessage for a while three times: twice with 502, once with 429 (retry after 3 s);
- the panel answers 502 to `status` for 20 s.
The emulator enforces Telegram's flood limits. Then the bench waits until every order's final status has
reached its chat (or a deadline).

Figures:
- `lost`: orders whose final status never reached their chat, plus notices still queued at the end. Must be 0.
  (A notice about an older status may be replaced by a newer one about the same order while it waits; that
  is by design, not a loss: the chat hears the newest.)
- `duplicates`: notices that reached a chat twice (same order, same new status). The documented edge: the bot
  killed between Telegram accepting a message and the commit of its `sent` mark (bot/delivery.py); after the
  restart that message goes again: at most the sends in flight at the kill (the Deliverer has up to 16).
- `recovery_to_delivery_max_s`: the longest delay from a recovery (Telegram answering again, the panel
  answering again) to the delivery of a notice owed at that moment (queued in the outbox, or a status change
  the panel made while it was unreachable); kills that fall in the same window count in it.
- `kills`, `telegram_outages`, `panel_outages`, `notices`, `elapsed_s`; lines starting with `#` break the
  delay down per recovery (with the kills near it).
Loopback only; every process it starts is stopped at the end. About 4 minutes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PTB_TIMEDELTA", "true")

from sqlalchemy import select  # noqa: E402

from bot.config import load_settings  # noqa: E402
from bot.deps import Deps  # noqa: E402
from bot.panel import normalize_status  # noqa: E402
from bot.sandbox.botapi import BotApiEmulator  # noqa: E402
from bot.sandbox.panel import PanelSimulator, SimClock  # noqa: E402
from storage import repo  # noqa: E402
from storage.db import migrate  # noqa: E402
from storage.models import Order, Outbox, Placement  # noqa: E402
from storage.repo.orders import new_confirm_token  # noqa: E402
from storage.types import utcnow  # noqa: E402

ORDERS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 1
CHATS = 50
TIME_SCALE = 8.0  # simulated panel seconds per real second: an order lives 5-50 s
# Orders are placed evenly over PLACE_S seconds, so that their ~2,000 notices come at ~10/s on average:
# Telegram takes 30/s at most, and a backlog after an outage needs that headroom to drain.
PLACE_S = 150.0
CHAOS_S = 160.0  # real seconds during which the faults happen
DEADLINE_S = 150.0  # after the chaos, at most this long for the last notices
POLL_INTERVAL = 2  # the bot's SMMBOT_POLL_INTERVAL
FINAL = {"Completed", "Partial", "Canceled", "Refunded", "Failed"}
NOTICE = re.compile(r"Order #(\d+): (.+?) → (.+)")
TAG = re.compile(r"<[^>]+>")


def parse_notice(text: str) -> tuple[int, str] | None:
    """(panel order id, new status) of an order notice (HTML or plain), else None."""
    first = TAG.sub("", text).splitlines()[0] if text else ""
    found = NOTICE.search(first)
    return (int(found.group(1)), normalize_status(found.group(3).strip())) if found else None


class BotProcess:
    """`python -m bot run` with the bench's settings; its log goes to a file."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env, self.log_path = env, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        log.write(f"\n===== start {self.starts} =====\n".encode())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        log.close()

    async def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            await asyncio.get_running_loop().run_in_executor(None, self.proc.wait)

    async def stop(self) -> None:
        """SIGTERM (a clean stop), SIGKILL after 15 s."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        loop = asyncio.get_running_loop()
        try:
            await asyncio.wait_for(loop.run_in_executor(None, self.proc.wait), 15)
        except TimeoutError:
            await self.kill()


class Arrivals:
    """When each bot message first showed up in the emulator (checked every 50 ms)."""

    def __init__(self, tg: BotApiEmulator, chats: list[int]) -> None:
        self.tg, self.chats = tg, chats
        self.seen: dict[int, int] = dict.fromkeys(chats, 0)
        self.notices: list[tuple[float, int, str]] = []  # (when, panel id, new status)

    def scan(self) -> None:
        now = time.monotonic()
        for chat in self.chats:
            messages = self.tg.bot_messages(chat)
            for message in messages[self.seen[chat] :]:
                parsed = parse_notice(message.get("text", ""))
                if parsed:
                    self.notices.append((now, *parsed))
            self.seen[chat] = len(messages)

    async def run(self) -> None:
        while True:
            self.scan()
            await asyncio.sleep(0.05)

    def first_after(self, pid: int, moment: float) -> float | None:
        return min((t for t, p, _ in self.notices if p == pid and t >= moment), default=None)


class Shop:
    """The chats with their accounts, and the orders placed over time (at the simulator without HTTP, then
    in the bot's database, as the bot itself would store them)."""

    def __init__(self, deps: Deps, sim: PanelSimulator, rng: random.Random) -> None:
        self.deps, self.sim, self.rng = deps, sim, rng
        self.service = next(
            s for s in sim.catalog if s["type"] == "Default" and s["max"] >= 5000 and s["min"] <= 100
        )
        self.chats = [700_000 + i for i in range(CHATS)]
        self.accounts: dict[int, tuple[int, str]] = {}  # chat -> (account id, key)
        self.owner: dict[int, int] = {}  # panel id -> chat

    async def open(self) -> None:
        async with self.deps.sessions() as s:
            for chat in self.chats:
                key = f"faults-key-{chat}"
                self.sim.add_key(key, "1000000", "USD")
                await repo.chats.get_or_create_chat(s, chat, "private")
                vault = self.deps.vault
                account = await repo.accounts.add_account(
                    s, chat, self.sim.url, vault.encrypt(key), vault.fingerprint(key), currency="USD"
                )
                self.accounts[chat] = (account.id, key)  # type: ignore[assignment]
            await s.commit()

    async def place(self, count: int) -> None:
        now = utcnow()
        rows = []
        for _ in range(count):
            i = len(self.owner)
            chat = self.chats[i % CHATS]
            account_id, key = self.accounts[chat]
            quantity = self.rng.randint(max(100, self.service["min"]), 3000)
            link = f"https://instagram.com/p/faults{i}"
            params = {"service": str(self.service["service"]), "link": link, "quantity": str(quantity)}
            pid = int(self.sim.process({"key": key, "action": "add", **params})["order"])
            self.owner[pid] = chat
            rows.append(
                Order(
                    chat_id=chat,
                    account_id=account_id,
                    placed_by=chat,
                    confirm_token=new_confirm_token(),
                    placement=Placement.placed,
                    panel_order_id=pid,
                    service_id=self.service["service"],
                    service_name=self.service["name"],
                    link=link,
                    quantity=quantity,
                    price=Decimal("1"),
                    currency="USD",
                    placed_at=now,
                    next_poll_at=now,
                )
            )
        async with self.deps.sessions() as s:
            s.add_all(rows)
            await s.commit()

    async def run(self) -> None:
        """ORDERS orders, evenly over PLACE_S seconds."""
        step = 0.5
        began = time.monotonic()
        while len(self.owner) < ORDERS:
            due = min(ORDERS, round(ORDERS * (time.monotonic() - began + step) / PLACE_S))
            if due > len(self.owner):
                await self.place(due - len(self.owner))
            await asyncio.sleep(step)


async def owed_at_panel_recovery(deps: Deps, sim: PanelSimulator) -> list[int]:
    """Orders whose status at the panel differs from what the bot last announced: news it owes."""
    async with deps.sessions() as s:
        rows = (await s.execute(select(Order.panel_order_id, Order.last_notified_status))).all()
    owed = []
    for pid, notified in rows:
        now = normalize_status(sim.orders[pid].status)
        if now != normalize_status(notified or "Pending"):
            owed.append(pid)
    return owed


async def owed_in_outbox(deps: Deps) -> list[int]:
    """Orders with a notice still queued."""
    async with deps.sessions() as s:
        texts = (
            await s.scalars(select(Outbox.text).where(Outbox.sent_at.is_(None), Outbox.failed_at.is_(None)))
        ).all()
    return [parsed[0] for parsed in map(parse_notice, texts) if parsed]


async def chaos(
    rng: random.Random,
    bot: BotProcess,
    tg: BotApiEmulator,
    sim: PanelSimulator,
    deps: Deps,
    report: Counter,
    kills: list[float],
    restarts: list[float],
) -> list[tuple[float, str, list[int]]]:
    """The faults, on a random schedule; returns (moment, what recovered, orders owed news then) per recovery,
    and the moments of the kills and restarts in `kills` and `restarts`."""
    events: list[tuple[float, str]] = [(rng.uniform(5, CHAOS_S - 5), "kill") for _ in range(5)]
    starts = sorted(rng.uniform(5, CHAOS_S - 25) for _ in range(4))
    events += [(starts[0], "tg502"), (starts[1], "tg429"), (starts[2], "panel"), (starts[3], "tg502")]
    events.sort()
    began = time.monotonic()
    recoveries: list[tuple[float, str, list[int]]] = []
    pending: list[asyncio.Task[None]] = []

    async def telegram_outage(kind: str, seconds: float) -> None:
        tg.fail_next("sendMessage", kind, times=10**9, retry_after=3)
        await asyncio.sleep(seconds)
        tg.clear_faults()
        recoveries.append((time.monotonic(), f"telegram {kind}", await owed_in_outbox(deps)))
        report["telegram_outages"] += 1

    async def panel_outage(seconds: float) -> None:
        sim.faults.fail_actions = {"status": "502"}
        await asyncio.sleep(seconds)
        sim.faults.fail_actions = {}
        moment = time.monotonic()
        owed = set(await owed_at_panel_recovery(deps, sim)) | set(await owed_in_outbox(deps))
        recoveries.append((moment, "panel", sorted(owed)))
        report["panel_outages"] += 1

    for at, what in events:
        await asyncio.sleep(max(0.0, began + at - time.monotonic()))
        if what == "kill":
            await bot.kill()
            report["kills"] += 1
            kills.append(time.monotonic())
            await asyncio.sleep(rng.uniform(0.5, 3.0))
            bot.start()
            restarts.append(time.monotonic())
        elif what.startswith("tg"):
            pending.append(asyncio.create_task(telegram_outage(what[2:], rng.uniform(6, 10))))
        else:
            pending.append(asyncio.create_task(panel_outage(20.0)))
    await asyncio.gather(*pending)
    return recoveries


async def main() -> None:
    logging.basicConfig(level=logging.CRITICAL)
    rng = random.Random(SEED)
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/faults.db"
        await migrate(db_url)
        clock = SimClock(frozen=True)
        sim = PanelSimulator(services=50, seed=SEED, clock=clock)
        await sim.start()
        tg = BotApiEmulator(enforce_limits=True)
        await tg.start()
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": tg.token,
            "SMMBOT_TELEGRAM_API_URL": tg.url,
            "SMMBOT_DATA_DIR": f"{tmp}/data",
            "SMMBOT_DATABASE_URL": db_url,
            "SMMBOT_PANEL_URL": sim.url,
            "SMMBOT_ALLOWED_PANELS": sim.url,
            "SMMBOT_POLL_INTERVAL": str(POLL_INTERVAL),
            "SMMBOT_BALANCE_INTERVAL": "3600",
        }
        settings = load_settings(**{k: v for k, v in env.items() if k.startswith(("TELEGRAM_", "SMMBOT_"))})
        deps = Deps.from_settings(settings)  # the parent's own view of the database (seeding, reading)
        bot = BotProcess(env, Path(tmp) / "bot.log")
        report: Counter[str] = Counter()
        tasks: list[asyncio.Task[Any]] = []
        try:
            shop = Shop(deps, sim, rng)
            await shop.open()
            chats, owner = shop.chats, shop.owner
            for chat in chats:
                tg.add_user(chat, f"U{chat}")
                tg.add_private_chat(chat)
            arrivals = Arrivals(tg, chats)

            async def tick() -> None:  # the panel's fast-forwarded clock
                while True:
                    await asyncio.sleep(0.1)
                    clock.advance(0.1 * TIME_SCALE)

            tasks = [asyncio.create_task(t()) for t in (tick, arrivals.run, shop.run)]
            began = time.monotonic()
            bot.start()
            kills: list[float] = []
            restarts: list[float] = []
            recoveries = await chaos(rng, bot, tg, sim, deps, report, kills, restarts)

            def finals() -> dict[int, str]:
                return {pid: normalize_status(o.status) for pid, o in sim.orders.items()}

            deadline = time.monotonic() + DEADLINE_S
            while time.monotonic() < deadline:
                final = finals()
                got = {(p, st) for _, p, st in arrivals.notices}
                if all(st in FINAL for st in final.values()) and all(
                    (p, st) in got for p, st in final.items()
                ):
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(1.0)  # anything sent twice at the very end shows up too
            arrivals.scan()
            final = finals()
            got = Counter((p, st) for _, p, st in arrivals.notices)
            missing = [p for p, st in final.items() if (p, st) not in got]
            still_queued = await owed_in_outbox(deps)
            delays = []
            for moment, what, owed in recoveries:
                mine = sorted(
                    (arrivals.first_after(pid, moment) or time.monotonic()) - moment for pid in owed
                )
                delays += mine
                near = [round(k - moment) for k in kills if -60 < k - moment < 100]
                print(
                    f"# {what} recovered at {moment - began:.0f} s: {len(owed)} owed, delivered within "
                    f"{max(mine, default=0):.1f} s (median {mine[len(mine) // 2] if mine else 0:.1f}); "
                    f"kills at {near} s from it"
                )
            resumed = [
                round(min((t for t, _, _ in arrivals.notices if t >= r), default=r) - r, 1) for r in restarts
            ]
            print(f"# after each restart, the first notice arrived after {resumed} s")
            print(f"orders: {len(owner)}")
            print(f"notices: {len(arrivals.notices)}")
            print(f"not_final_at_panel: {sum(st not in FINAL for st in final.values())}")
            print(f"lost: {len(missing) + len(still_queued)}")
            print(f"duplicates: {sum(n - 1 for n in got.values() if n > 1)}")
            print(f"recovery_to_delivery_max_s: {max(delays, default=0.0):.1f}")
            print(f"owed_at_recoveries: {len(delays)}")
            for name in ("kills", "telegram_outages", "panel_outages"):
                print(f"{name}: {report[name]}")
            print(f"elapsed_s: {time.monotonic() - started:.0f}")
            if missing or still_queued:
                print(f"# missing final notices for panel ids {missing[:10]}; queued {still_queued[:10]}")
        finally:
            for task in tasks:
                task.cancel()
            await bot.stop()
            await deps.close()
            await tg.stop()
            await sim.stop()


if __name__ == "__main__":
    asyncio.run(main())

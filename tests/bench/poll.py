"""Benchmark: one status-tracking cycle over 10,000 open orders of 1,000 accounts, 50 ms panel latency.

Run: `.venv/bin/python tests/bench/poll.py`. Prints `name: value` lines.

The panel simulator runs in a child process (its own CPU does not count), with one key per account and the
orders placed there first; accounts and placed orders are bulk-inserted into a fresh SQLite database. Two
cycles run: the first reads every status for the first time (Pending -> In progress: a notice per order);
the second is the steady state (remains moved on: stored, no notices).

Latency-bound minimum: every account's orders fit in one chunk (10 <= 100), so a cycle is 1,000 requests;
the cycle keeps at most C = tracking.CONCURRENCY (16) in flight (per account at most 4, the shared aiohttp
connector allows 20 per host), each waiting the 50 ms latency, so bound = ceil(requests / C) x latency.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import insert

from bot import tracking
from bot.config import load_settings
from bot.deps import Deps
from bot.panel import PANEL_METRICS, close_shared_session
from bot.sandbox.panel import Faults, PanelSimulator
from storage.db import migrate
from storage.models import Account, Chat, Order, Placement
from storage.repo.orders import new_confirm_token
from storage.types import utcnow

ACCOUNTS = 1_000
PER_ACCOUNT = 10
LATENCY = 0.050
SERVICE = 18  # TikTok Views: min 100, max 10M; 1M views take the simulator ~33 hours
QUANTITY = 1_000_000


def serve_panel(conn: Any) -> None:
    """Child process: a simulator with ACCOUNTS keys and their orders; sends (url, panel ids), serves until
    the parent says stop."""

    async def main() -> None:
        sim = PanelSimulator(services=30, faults=Faults(latency=LATENCY))
        ids: list[list[int]] = []
        for a in range(ACCOUNTS):
            key = f"bench-key-{a}"
            sim.add_key(key, "1000000", "USD")
            mine = []
            for i in range(PER_ACCOUNT):
                answer = sim.process(
                    {
                        "key": key,
                        "action": "add",
                        "service": str(SERVICE),
                        "link": f"https://tiktok.com/@bench/video/{a}{i:03d}",
                        "quantity": str(QUANTITY),
                    }
                )
                mine.append(int(answer["order"]))
            ids.append(mine)
        sim.clock.advance(60)  # past "Incorrect order ID" and Pending
        conn.send((await sim.start(), ids))
        await asyncio.get_running_loop().run_in_executor(None, conn.recv)
        await sim.stop()

    asyncio.run(main())


async def fill_database(deps: Deps, ids: list[list[int]], url: str) -> None:
    now = utcnow()
    chats = [
        {"id": 10_000 + a, "kind": "private", "created_at": now, "updated_at": now} for a in range(ACCOUNTS)
    ]
    accounts = []
    orders = []
    for a in range(ACCOUNTS):
        key = f"bench-key-{a}"
        accounts.append(
            {
                "id": a + 1,
                "chat_id": 10_000 + a,
                "panel_url": url,
                "key_encrypted": deps.vault.encrypt(key),
                "key_fingerprint": deps.vault.fingerprint(key),
                "currency": "USD",
                "is_default": True,
                "created_at": now,
            }
        )
        for pid in ids[a]:
            orders.append(
                {
                    "chat_id": 10_000 + a,
                    "account_id": a + 1,
                    "placed_by": 10_000 + a,
                    "confirm_token": new_confirm_token(),
                    "placement": Placement.placed.value,
                    "panel_order_id": pid,
                    "service_id": SERVICE,
                    "service_name": "TikTok Views",
                    "service_type": "Default",
                    "link": "https://tiktok.com/@bench/video/1",
                    "quantity": QUANTITY,
                    "fields": {},
                    "price": Decimal("12.5"),
                    "currency": "USD",
                    "refill_allowed": False,
                    "cancel_allowed": False,
                    "created_at": now,
                    "updated_at": now,
                    "placed_at": now,
                    "next_poll_at": now,
                }
            )
    async with deps.sessions() as s:
        await s.execute(insert(Chat), chats)
        await s.execute(insert(Account), accounts)
        await s.execute(insert(Order), orders)
        await s.commit()


async def measure(deps: Deps, now: Any) -> dict[str, float]:
    requests_before = sum(n for (action, _), n in PANEL_METRICS.items() if action == "status")
    cpu = time.process_time()
    report = await tracking.poll_cycle(deps, now)
    cpu = time.process_time() - cpu
    requests = sum(n for (action, _), n in PANEL_METRICS.items() if action == "status") - requests_before
    bound = math.ceil(requests / tracking.CONCURRENCY) * LATENCY
    return {
        "due_orders": report.due_orders,
        "requests_per_cycle": requests,
        "changes": report.changes,
        "notices": report.notices,
        "failed_chunks": report.failed_chunks,
        "cycle_s": round(report.duration_s, 3),
        "bound_s": round(bound, 3),
        "ratio_to_bound": round(report.duration_s / bound, 2),
        "cpu_us_per_order": round(cpu / max(1, report.due_orders) * 1e6),
    }


async def run(url: str, ids: list[list[int]], data_dir: Path) -> None:
    db_url = f"sqlite+aiosqlite:///{data_dir / 'bench.db'}"
    await migrate(db_url)
    settings = load_settings(
        SMMBOT_DATA_DIR=str(data_dir), SMMBOT_DATABASE_URL=db_url, SMMBOT_ALLOWED_PANELS=f"*,{url}"
    )
    deps = Deps.from_settings(settings)
    started = time.perf_counter()
    await fill_database(deps, ids, url)
    print(f"setup_db_s: {time.perf_counter() - started:.2f}")
    try:
        first = await measure(deps, utcnow())
        steady = await measure(deps, utcnow() + timedelta(seconds=settings.poll_interval))
    finally:
        await close_shared_session()
        await deps.close()
    for label, figures in (("first", first), ("steady", steady)):
        for name, value in figures.items():
            print(f"{label}_{name}: {value}")
    print(f"requests_per_cycle: {steady['requests_per_cycle']}")
    print(f"cycle_s: {steady['cycle_s']}")
    print(f"bound_s: {steady['bound_s']}")
    print(f"ratio_to_bound: {steady['ratio_to_bound']}")
    print(f"cpu_us_per_order: {steady['cpu_us_per_order']}")


def main() -> None:
    print(f"orders: {ACCOUNTS * PER_ACCOUNT}")
    print(f"accounts: {ACCOUNTS}")
    print(f"latency_ms: {LATENCY * 1000:.0f}")
    print(f"concurrency: {tracking.CONCURRENCY}")
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    panel = ctx.Process(target=serve_panel, args=(child,), daemon=True)
    started = time.perf_counter()
    panel.start()
    try:
        url, ids = parent.recv()
        print(f"setup_panel_s: {time.perf_counter() - started:.2f}")
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run(url, ids, Path(tmp)))
    finally:
        parent.send("stop")
        panel.join(10)
    print(f"max_rss_mb: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    main()

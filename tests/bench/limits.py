"""Benchmark: what the limits cost and what they bound.

Run: `.venv/bin/python tests/bench/limits.py` (or `make bench`). Prints `name: value` lines.
- the per-user limiter on every expensive press (bot/rate_limits.py), beside a plain dict lookup as the
  baseline, and its memory when one action is full (10,000 people);
- the memory of one cached catalog of 1,000 and of 10,000 services (the simulator's, parsed by the client's
  parser), so the bound of SMMBOT_CATALOG_CACHE_SIZE is known in bytes: before the cap, every account that
  ever opened /services kept its catalog for the life of the process;
- one `balance` request over loopback HTTP with the size-capped streaming read, beside the same request read
  whole by aiohttp (`resp.read()`), as the baseline.
"""

from __future__ import annotations

import asyncio
import gc
import json
import statistics
import sys
import time
import tracemalloc
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import aiohttp

from bot.catalog import Catalog
from bot.panel import PanelClient, Service, close_shared_session
from bot.rate_limits import RateLimits
from bot.sandbox.panel import PanelSimulator
from bot.sandbox.panel_catalog import generate_catalog, service_to_wire

CALLS = 200_000
USERS = 10_000
REQUESTS = 300


def per_call_ns(fn, n: int) -> float:  # type: ignore[no-untyped-def]
    gc.disable()
    try:
        started = time.perf_counter_ns()
        for i in range(n):
            fn(i)
        return (time.perf_counter_ns() - started) / n
    finally:
        gc.enable()


def limiter() -> None:
    limits = RateLimits()
    baseline: dict[tuple[int, str], float] = {}
    users = 5_000
    limited = per_call_ns(lambda i: limits.retry_after(i % users, "order_refresh"), CALLS)
    looked_up = per_call_ns(lambda i: baseline.get((i % users, "x")), CALLS)
    print(f"limiter_ns_per_call: {limited:.0f}")
    print(f"dict_lookup_ns_per_call_baseline: {looked_up:.0f}")
    tracemalloc.start()
    full = RateLimits()
    before = tracemalloc.get_traced_memory()[0]
    for user in range(USERS * 2):  # twice the bound: the oldest half is dropped
        full.retry_after(user, "catalog_refresh")
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    print(f"limiter_buckets_kept: {len(full)}")
    print(f"limiter_mb_when_full: {used / 1e6:.1f}")


def catalog_mb(services: int) -> float:
    wire = [service_to_wire(s, "jap") for s in generate_catalog(services, seed=1)]
    items = json.loads(json.dumps(wire), parse_float=Decimal)
    gc.collect()
    tracemalloc.start()
    parsed = [s for s in map(Service.from_json, items) if s is not None]
    catalog = Catalog(parsed)
    used = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del catalog
    return used / 1e6


async def requests() -> None:
    sim = PanelSimulator(services=10)
    url = await sim.start()
    client = PanelClient(url, sim.DEFAULT_KEY)
    try:
        capped: list[float] = []
        whole: list[float] = []
        async with aiohttp.ClientSession() as http:
            for _ in range(20):  # warm up both paths
                await client.balance()
            for _ in range(REQUESTS):
                started = time.perf_counter()
                await client.balance()
                capped.append(time.perf_counter() - started)
                started = time.perf_counter()
                async with http.post(url, data={"key": sim.DEFAULT_KEY, "action": "balance"}) as resp:
                    json.loads(await resp.read())
                whole.append(time.perf_counter() - started)
        print(f"balance_request_ms_capped_client: {statistics.median(capped) * 1000:.2f}")
        print(f"balance_request_ms_plain_aiohttp_baseline: {statistics.median(whole) * 1000:.2f}")
    finally:
        await close_shared_session()
        await sim.stop()


def main() -> None:
    limiter()
    print(f"catalog_1000_services_mb: {catalog_mb(1_000):.1f}")
    print(f"catalog_10000_services_mb: {catalog_mb(10_000):.1f}")
    asyncio.run(requests())


if __name__ == "__main__":
    main()

"""Benchmark: multi-status of 10,000 order ids against the panel simulator with 50 ms latency per request.

Run: `.venv/bin/python tests/bench/multistatus.py` (or `make bench`). Prints `name: value` lines.
The latency-bound minimum is ceil(requests / concurrency) × latency: the client can do no better than
keeping `concurrency` requests in flight, each waiting the simulated latency.
"""

from __future__ import annotations

import asyncio
import math
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.panel import PanelClient, close_shared_session
from bot.sandbox.panel import Faults, PanelSimulator

ORDERS = 10_000
LATENCY = 0.050


async def run(concurrency: int) -> dict[str, float]:
    sim = PanelSimulator(services=50, faults=Faults(latency=LATENCY))
    key = "bench-key"
    sim.add_key(key, "100000000", "USD")
    service = sim.first_service_of_type("Default")
    ids = []
    for i in range(ORDERS):  # placed without HTTP: the benchmark measures status reads
        answer = sim.process(
            {
                "key": key,
                "action": "add",
                "service": str(service["service"]),
                "link": f"https://instagram.com/p/bench{i}",
                "quantity": str(service["min"]),
            }
        )
        ids.append(int(answer["order"]))
    sim.clock.advance(60)  # past the panel's "Incorrect order ID" lag right after add
    url = await sim.start()
    client = PanelClient(url, key, concurrency=concurrency, timeout=30)
    try:
        before = sim.count("status")
        started = time.perf_counter()
        results = await client.statuses(ids)
        wall = time.perf_counter() - started
        requests = sim.count("status") - before
    finally:
        await client.close()
        await sim.stop()
    ok = sum(1 for r in results.values() if not isinstance(r, Exception))
    bound = math.ceil(requests / concurrency) * LATENCY
    return {
        "requests": requests,
        "answered_ok": ok,
        "wall_s": round(wall, 3),
        "bound_s": round(bound, 3),
        "ratio_to_bound": round(wall / bound, 2),
    }


async def main() -> None:
    print(f"orders: {ORDERS}")
    print(f"latency_ms: {LATENCY * 1000:.0f}")
    for concurrency in (4, 8):
        figures = await run(concurrency)
        for name, value in figures.items():
            print(f"c{concurrency}_{name}: {value}")
    await close_shared_session()
    print(f"max_rss_mb: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")


if __name__ == "__main__":
    asyncio.run(main())

"""Benchmark: the Mini App's catalog of 10,000 services in a real headless Chromium.

Run: `.venv/bin/python tests/bench/webapp.py` (or `make bench`). Prints `name: value` lines. Needs Playwright
and Debian's chromium (`make chromium`); prints `skipped: <reason>` without them.

Side by side, in the same run and page, the two ways a page can filter as the user types:
- client: the whole catalog once as compact JSON (bot/webapp/catalog_data.py), filtered in the page on each
  key (what the app does): the time of the filter and the re-render of the list;
- server: a request to /api/search per key (the catalog's own index), timed from fetch to the rendered list.
Also the time to first render (navigation start to the first list on screen) and the bytes sent.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("PTB_TIMEDELTA", "true")

SERVICES = 10_000
QUERIES = 200
LOADS = 5


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def queries(catalog: list[dict], n: int) -> list[str]:
    """What people type: the first letters of a word of a category or a name, growing key by key."""
    rng = random.Random(7)
    typed: list[str] = []
    while len(typed) < n:
        service = rng.choice(catalog)
        words = (service["category"] + " " + service["name"]).lower().split()
        word = rng.choice([w for w in words if w.isalpha()] or ["followers"])
        typed += [word[:k] for k in range(1, len(word) + 1)]  # each keystroke is a query
    return typed[:n]


CLIENT_FILTER = """async (qs) => {
  const input = document.getElementById('search');
  const out = [];
  for (const q of qs) {
    input.value = q;
    input.dispatchEvent(new Event('input'));
    out.push(window.smmApp.lastFilterMs);
  }
  input.value = ''; input.dispatchEvent(new Event('input'));
  return out;
}"""

SERVER_SEARCH = """async ([qs, auth, base, account]) => {
  const out = [], sizes = [];
  const list = document.getElementById('services');
  for (const q of qs) {
    const t0 = performance.now();
    const r = await fetch(base + '/api/search?account=' + account + '&q=' + encodeURIComponent(q),
                          {headers: {Authorization: 'tma ' + auth}});
    const text = await r.text();
    const data = JSON.parse(text);
    const items = data.rows.slice(0, 100).map((row) => {
      const li = document.createElement('li'); li.textContent = row[1]; return li; });
    list.replaceChildren(...items);
    out.push(performance.now() - t0);
    sizes.push(text.length);
  }
  return [out, sizes];
}"""


async def main() -> None:
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        print("skipped: playwright is not installed")
        return
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        print("skipped: chromium is not installed (make chromium)")
        return
    from bot.rate_limits import Limit
    from storage.db import migrate
    from tests.webapp.conftest import make_app_env

    with tempfile.TemporaryDirectory() as tmp:
        db_url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await migrate(db_url)
        async for env in make_app_env(Path(tmp), db_url, services=SERVICES):
            account = await env.link(101)
            env.deps.rate_limits.limits["read"] = Limit(1_000_000, 0.001)  # a bench types faster than anyone
            init = env.init_data(101)
            async with async_playwright() as playwright:
                browser = await playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
                page = await browser.new_page()
                renders = []
                for load in range(LOADS):
                    # a query string makes each a real page load (a new fragment alone would not reload)
                    await page.goto(env.fragment_url(init).replace("/#", f"/?load={load}#"))
                    await page.wait_for_function("() => window.smmApp && window.smmApp.ready", timeout=60_000)
                    renders.append(await page.evaluate("() => window.smmApp.renderedAt"))
                sizes = await page.evaluate(
                    """() => performance.getEntriesByType('resource')
                        .filter(e => e.name.includes('/api/catalog'))
                        .map(e => [e.encodedBodySize, e.decodedBodySize])"""
                )
                typed = queries(env.panel.catalog, QUERIES)
                client = await page.evaluate(CLIENT_FILTER, typed)
                server, server_sizes = await page.evaluate(SERVER_SEARCH, [typed, init, env.app_url, account])
                await browser.close()
            print(f"services: {SERVICES}")
            print(f"first_render_cold_ms: {renders[0]:.0f}")
            print(f"first_render_warm_ms_p50: {statistics.median(renders[1:]):.0f}")
            print(f"catalog_bytes_sent: {sizes[-1][0]}")
            print(f"catalog_bytes_json: {sizes[-1][1]}")
            print(f"client_filter_ms_p50: {pct(client, 0.5):.1f}")
            print(f"client_filter_ms_p99: {pct(client, 0.99):.1f}")
            print(f"server_search_ms_p50: {pct(server, 0.5):.1f}")
            print(f"server_search_ms_p99: {pct(server, 0.99):.1f}")
            print(f"server_search_bytes_per_key_p50: {pct(server_sizes, 0.5):.0f}")
            print(f"server_search_bytes_total: {sum(server_sizes)}")


if __name__ == "__main__":
    asyncio.run(main())

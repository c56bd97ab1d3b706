"""Benchmark: the catalog index of 10,000 services: build, search, and the pages of /services.

Run: `.venv/bin/python tests/bench/search.py` (or `make bench`). Prints `name: value` lines.
The catalog is the panel simulator's (bot/sandbox/panel_catalog.py), written as the panel writes it and parsed
by `bot.panel.Service.from_json`, so the index sees the real types. Pages are rendered by the same pure
functions the bot uses (handlers/catalog.py); the Telegram round trip is not part of these figures.
"""

from __future__ import annotations

import gc
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.catalog import Catalog
from bot.i18n import translator
from bot.panel import Service
from bot.sandbox.panel_catalog import generate_catalog, service_to_wire
from handlers.catalog import (
    SERVICES_PER_PAGE,
    render_card,
    render_categories,
    render_category,
    render_search,
)

SERVICES = 10_000
QUERIES = 400

NONSENSE = ["qwerty", "zzzz", "asdfgh", "lorem ipsum", "xyz123", "instagram spotify", "tiktok subscribers"]


def load_services() -> list[Service]:
    wire = [service_to_wire(s, "jap") for s in generate_catalog(SERVICES, seed=1)]
    # Through JSON text as the client gets it (money as Decimal), then the client's parser.
    items = json.loads(json.dumps(wire), parse_float=Decimal)
    services = [Service.from_json(item) for item in items]
    return [s for s in services if s is not None]


def realistic_queries(services: list[Service], n: int, seed: int = 7) -> list[str]:
    """What people type after /services, drawn from what the catalog sells: a category ("tiktok views"),
    a platform or a product, a category plus a quality or a country from a name, an id; some misses."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        service = rng.choice(services)
        category = service.category.lower().split()
        extra = rng.choice([w for w in service.name.lower().strip("[]").split() if w.isalpha()] or ["real"])
        roll = rng.random()
        if roll < 0.30:
            q = " ".join(category)
        elif roll < 0.45:
            q = rng.choice(category)
        elif roll < 0.60:
            q = ("#" if rng.random() < 0.2 else "") + str(rng.randint(1, len(services) + 500))
        elif roll < 0.80:
            q = " ".join([*category, extra])
        elif roll < 0.90:
            q = f"{extra} {category[-1]}"
        else:
            q = rng.choice(NONSENSE)
        out.append(q.title() if rng.random() < 0.3 else q)
    return out


def timed(fn: Callable[[], Any]) -> float:
    """Milliseconds of one call, with the garbage collector paused during it (as timeit does): a collection
    of the whole heap that happens to fall inside a sample says nothing about search or rendering."""
    gc.disable()
    try:
        started = time.perf_counter()
        fn()
        return (time.perf_counter() - started) * 1000
    finally:
        gc.enable()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    started = time.perf_counter()
    services = load_services()
    builds = [timed(lambda: Catalog(services)) for _ in range(3)]
    catalog = Catalog(services)
    locate_ms = timed(lambda: catalog.locate(1))  # built on first use (a card's Back button)

    queries = realistic_queries(services, QUERIES)
    hits: list[int] = []
    search_ms = [timed(lambda q=q: hits.append(len(catalog.search(q)))) for q in queries]
    for q in queries[-32:]:
        catalog.find(q)
    cached_ms = [timed(lambda q=q: catalog.find(q)) for q in queries[-32:]]  # remembered: no scan

    _ = translator("en")
    pages = [
        (ci, page)
        for ci, name in enumerate(catalog.categories)
        for page in range(-(-len(catalog.by_category[name]) // SERVICES_PER_PAGE))
    ]
    page_ms = [timed(lambda ci=ci, p=p: render_category(_, catalog, ci, p, "USD")) for ci, p in pages]
    categories_ms = [timed(lambda p=p: render_categories(_, catalog, p)) for p in range(3)]
    card_ms = [timed(lambda s=s: render_card(_, s, "USD", "svc:cats:0")) for s in services[:1000]]

    fresh = Catalog(services)  # nothing remembered: the first page of a search includes the search
    first_ms = [timed(lambda q=q: render_search(_, fresh, q, 0, "USD")) for q in queries[:100]]
    render_search(_, fresh, "instagram", 0, "USD")
    next_ms = [timed(lambda p=p: render_search(_, fresh, "instagram", p, "USD")) for p in range(1, 101)]

    figures = {
        "services": len(services),
        "categories": len(catalog.categories),
        "index_build_ms": round(statistics.median(builds), 1),
        "index_locate_build_ms": round(locate_ms, 1),
        "search_queries": len(queries),
        "search_hits_median": int(statistics.median(hits)),
        "search_p50_ms": round(pct(search_ms, 0.50), 2),
        "search_p99_ms": round(pct(search_ms, 0.99), 2),
        "search_max_ms": round(max(search_ms), 2),
        "search_cached_p50_ms": round(pct(cached_ms, 0.50), 4),
        "render_page_ms": round(pct(page_ms, 0.50), 3),
        "render_page_p99_ms": round(pct(page_ms, 0.99), 3),
        "render_pages": len(page_ms),
        "render_categories_ms": round(pct(categories_ms, 0.50), 3),
        "render_card_ms": round(pct(card_ms, 0.50), 3),
        "render_search_first_p50_ms": round(pct(first_ms, 0.50), 2),
        "render_search_first_p99_ms": round(pct(first_ms, 0.99), 2),
        "render_search_page_ms": round(pct(next_ms, 0.50), 3),
        "render_search_page_p99_ms": round(pct(next_ms, 0.99), 3),
        "wall_s": round(time.perf_counter() - started, 2),
    }
    for name, value in figures.items():
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()

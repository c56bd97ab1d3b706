"""The catalog as the page gets it: one compact JSON document per fetched catalog, filtered in the page.

Rows share one table of categories and types: 10,000 services are about 1 MB of JSON, 170 kB gzipped, sent
once per page load; the page then filters the rows as the user types (no round trip per key).
tests/bench/webapp.py measures this against a server-side search per keystroke (`search_rows`, also
served as `/api/search`).

Row: [id, name, category index, type index, rate as text (exact), min, max, flags]
flags: 1 refill, 2 cancel, 4 drip-feed. Names are panel text: the page shows them with textContent only.
"""

from __future__ import annotations

import json
from typing import Any

from bot.catalog import Catalog
from bot.formatting import format_money
from bot.panel import Service

REFILL, CANCEL, DRIPFEED = 1, 2, 4
SEARCH_LIMIT = 200


def _flags(service: Service) -> int:
    return (
        (REFILL if service.refill else 0)
        | (CANCEL if service.cancel else 0)
        | (DRIPFEED if service.dripfeed else 0)
    )


def _row(service: Service, cats: dict[str, int], types: dict[str, int]) -> list[Any]:
    return [
        service.id,
        service.name,
        cats.setdefault(service.category or "—", len(cats)),
        types.setdefault(service.type or "Default", len(types)),
        None if service.rate is None else format_money(service.rate),  # exact text, as the chat shows it
        service.min,
        service.max,
        _flags(service),
    ]


def compact(services: list[Service]) -> dict[str, Any]:
    cats: dict[str, int] = {}
    types: dict[str, int] = {}
    rows = [_row(s, cats, types) for s in services]
    return {"cats": list(cats), "types": list(types), "rows": rows}


class CatalogDocuments:
    """The encoded document of each account's current catalog, made once per fetch of that catalog."""

    def __init__(self) -> None:
        self._docs: dict[int, tuple[Catalog, bytes]] = {}

    def document(self, account_id: int, catalog: Catalog) -> bytes:
        cached = self._docs.get(account_id)
        if cached is not None and cached[0] is catalog:
            return cached[1]
        body = json.dumps(compact(catalog.services), ensure_ascii=False, separators=(",", ":")).encode()
        self._docs[account_id] = (catalog, body)
        return body


def search_rows(catalog: Catalog, query: str, limit: int = SEARCH_LIMIT) -> dict[str, Any]:
    """The server-side alternative: the catalog's own ranked search, in the same row format."""
    found = catalog.find(query)[:limit] if query.strip() else catalog.services[:limit]
    return {**compact(found), "total": len(catalog.services)}

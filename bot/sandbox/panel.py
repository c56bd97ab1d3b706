"""A simulated SMM panel speaking API v2 (see shared/panel-api.md), for the demo, tests and benchmarks.

    sim = PanelSimulator(services=300, dialect="jap", clock=SimClock(frozen=True))
    url = await sim.start()                  # "http://127.0.0.1:PORT/api/v2", key PanelSimulator.DEFAULT_KEY
    ...; sim.clock.advance(3600); ...        # orders and refills move on with simulated time
    await sim.stop()

Order and refill states are computed from the SimClock when read (no background tasks), so thousands of orders
cost nothing until someone asks about them. Two dialects: "jap" (the common PerfectPanel/JAP wording: numbers
as strings, capitalised statuses, PHP-style escaped JSON) and "smart" (SmartPanel-like: string ids, numeric
min/max/balance, lower-case statuses, translation keys as errors). This module imports nothing of ours beyond
its catalog, so it can stand alone.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import random
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar

from aiohttp import web

from bot.sandbox.panel_catalog import (
    FLAT_PRICE_TYPES,
    LINE_QUANTITY_FIELD,
    SERVICE_TYPES,
    TYPE_FIELDS,
    generate_catalog,
    rate_in,
    service_to_wire,
)

__all__ = [
    "SERVICE_TYPES",
    "TYPE_FIELDS",
    "Faults",
    "PanelSimulator",
    "SimClock",
    "SimOrder",
    "SimRefill",
    "run_standalone",
]

CENT5 = Decimal("0.00001")
MAX_IDS = 100
FIRST_ORDER_ID = 23501
FIRST_REFILL_ID = 1
SUBSCRIPTION_DELAYS = frozenset(
    {0, 5, 10, 15, 20, 30, 40, 50, 60, 90, 120, 150, 180, 240, 300, 360, 480, 600}
)
FINAL = frozenset({"Completed", "Partial", "Canceled"})

# Error wording. The smart dialect swaps some texts for translation keys, as SmartPanel-like panels do.
E_KEY = "Invalid API key"
E_REQUEST = "Incorrect request"
E_SERVICE = "Incorrect service ID"
E_LINK = "Incorrect link"
E_FUNDS = "Not enough funds on balance"
E_MIN = "Quantity less than minimal {}"
E_MAX = "Quantity more than maximum {}"
E_DUPLICATE = "You have active order with this link. Please wait until order being completed."
E_ORDER = "Incorrect order ID"
E_REFILL_NOT_FOUND = "Refill not found"
E_REFILL_DISABLED = "Refill is disabled for this service"
E_NOT_COMPLETED = "The order is not completed"
E_REFILL_ACTIVE = "Order not eligible for refill."
E_CANCEL_DISABLED = "Cancel is disabled for this service"
E_CANNOT_CANCEL = "Cannot cancel"
E_DRIPFEED = "Drip-feed is disabled for this service"
SMART_ERRORS = {
    E_KEY: "API is Disable for this user or User Not Found! Contact the Support ",
    E_SERVICE: "error.incorrect_service_id",
    E_LINK: "neworder.error.link",
    E_FUNDS: "neworder.error.not_enough_funds",
    E_MIN: "neworder.error.min_quantity",
    E_MAX: "neworder.error.max_quantity",
    E_DUPLICATE: "neworder.error.link_duplicate",
}

_URL_RE = re.compile(r"^(https?://)?([A-Za-z0-9-]+\.)+[A-Za-z]{2,}(:\d+)?(/\S*)?$")
_USERNAME_RE = re.compile(r"^@?[A-Za-z0-9_.]{2,64}$")
_URL_ONLY_TYPES = frozenset({"SEO", "Web Traffic"})
_NO_LINK_TYPES = frozenset({"Subscriptions"})

_HTML_502 = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1>"
    "</center>\r\n<hr><center>cloudflare</center>\r\n</body>\r\n</html>\r\n"
)
_HTML_CLOUDFLARE = (
    '<!DOCTYPE html><html lang="en-US"><head><title>Just a moment...</title>'
    '<meta http-equiv="Content-Type" content="text/html; charset=UTF-8"></head><body>'
    '<div class="main-wrapper" role="main"><div class="main-content"><h1>Checking if the site connection '
    "is secure</h1><p>Enable JavaScript and cookies to continue</p></div></div>"
    '<script src="/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1"></script></body></html>'
)
_MALFORMED = [
    '{"charge":"0.27819","start_count":"3572","status":"Compl',
    "{'error': 'Incorrect request'}",
    '<br />\n<b>Warning</b>:  Undefined array key "service" in <b>/var/www/html/api/v2.php</b> on line '
    '<b>42</b><br />\n{"error":"Incorrect request"}',
    '{"balance": "1.00000", "currency": "USD",}',
    "",
]


@dataclass
class Faults:
    """Fault knobs; mutable at runtime (the simulator reads them on every request)."""

    latency: float = 0.0
    error_rate: float = 0.0
    html_rate: float = 0.0
    rate_limit_rate: float = 0.0
    malformed_rate: float = 0.0
    hang_rate: float = 0.0
    hang_seconds: float = 30.0
    # Actions that always hang AFTER processing: the request reached the panel, the answer is late.
    hang_actions: set[str] = field(default_factory=set)
    # action -> "502" | "html" | "429" | "malformed": that action always fails that way, before processing.
    fail_actions: dict[str, str] = field(default_factory=dict)
    seed: int = 0


class SimClock:
    """Simulated time in epoch seconds. Follows real time plus what `advance` added, unless `frozen`."""

    def __init__(self, start: float | None = None, *, frozen: bool = False) -> None:
        self._base = time.time() if start is None else start
        self._mono = time.monotonic()
        self._offset = 0.0
        self.frozen = frozen

    def now(self) -> float:
        real = 0.0 if self.frozen else time.monotonic() - self._mono
        return self._base + real + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds


@dataclass
class SimOrder:
    id: int
    key: str
    service_id: int
    service_type: str
    link: str
    quantity: int  # per run for drip-feed orders
    fields: dict[str, str]
    charge: Decimal
    currency: str
    created_at: float
    runs: int = 1
    interval: int = 0
    partial_at: float | None = None  # fraction of delivery after which the order stops as Partial
    start_base: int = 0
    canceled_at: float | None = None
    canceled_remains: int = 0
    refunded: Decimal = Decimal(0)
    forced_status: str | None = None
    forced_remains: int | None = None
    sim: PanelSimulator | None = field(default=None, repr=False, compare=False)

    @property
    def total(self) -> int:
        return self.quantity * self.runs

    def _state(self) -> tuple[str, int, int | None]:
        assert self.sim is not None
        return self.sim._order_state(self, self.sim.clock.now())

    @property
    def status(self) -> str:
        return self._state()[0]

    @property
    def remains(self) -> int:
        return self._state()[1]

    @property
    def start_count(self) -> int | None:
        return self._state()[2]


@dataclass
class SimRefill:
    id: int
    key: str
    order_id: int
    created_at: float
    rejected: bool = False
    forced_status: str | None = None
    sim: PanelSimulator | None = field(default=None, repr=False, compare=False)

    @property
    def status(self) -> str:
        assert self.sim is not None
        return self.sim._refill_state(self, self.sim.clock.now())


@dataclass
class _Account:
    balance: Decimal
    currency: str


class _PanelError(Exception):
    def __init__(self, text: str, *args: object) -> None:
        super().__init__(text)
        self.text = text
        self.args_ = args


def _money(d: Decimal) -> str:
    """Charge as panels print it: up to 5 decimals, trailing zeros dropped down to 2 ("0.14", "0.27819")."""
    s = format(d.quantize(CENT5, ROUND_HALF_UP), "f")
    while s.endswith("0") and len(s.split(".")[1]) > 2:
        s = s[:-1]
    return s


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


def _lines(value: str | None) -> list[str]:
    return [ln.strip() for ln in (value or "").splitlines() if ln.strip()]


def _id_list(value: str) -> list[str]:
    seen: dict[str, None] = {}
    for part in value.split(","):
        if part.strip():
            seen.setdefault(part.strip(), None)
    return list(seen)


class PanelSimulator:
    DEFAULT_KEY: ClassVar[str] = "demo-key-usd"

    def __init__(
        self,
        *,
        services: int = 300,
        seed: int = 1,
        dialect: str = "jap",
        faults: Faults | None = None,
        clock: SimClock | None = None,
        pending_seconds: float = 30,
        seconds_per_1000: float = 120,
        status_lag: float = 2.0,
        refill_seconds: float = 120,
    ) -> None:
        if dialect not in ("jap", "smart"):
            raise ValueError(f"unknown dialect {dialect!r}")
        self.dialect = dialect
        self.seed = seed
        self.faults = faults or Faults()
        self.clock = clock or SimClock()
        self.pending_seconds = pending_seconds
        self.seconds_per_1000 = seconds_per_1000
        self.status_lag = status_lag  # right after `add`, `status` says "Incorrect order ID" for this long
        self.refill_seconds = refill_seconds
        self.catalog: list[dict[str, Any]] = generate_catalog(services, seed)
        self._by_id = {s["service"]: s for s in self.catalog}
        self._accounts: dict[str, _Account] = {}
        self.add_key(self.DEFAULT_KEY, "100", "USD")
        self.add_key("demo-key-rub", "50000", "RUB")
        self.add_key("demo-key-poor", "0.05", "USD")
        self.orders: dict[int, SimOrder] = {}
        self.refills: dict[int, SimRefill] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self._counts: dict[str, int] = {}
        self._next_order = FIRST_ORDER_ID
        self._next_refill = FIRST_REFILL_ID
        self._by_link: dict[tuple[str, str], list[int]] = {}
        self._refills_by_order: dict[int, list[int]] = {}
        self._refunds_due: list[tuple[float, int]] = []  # heap of (time, order id) of orders ending Partial
        self._fault_rng = random.Random(self.faults.seed)
        self._stopping = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ---- accounts -------------------------------------------------------------------------------------
    def add_key(self, key: str, balance: Decimal | str, currency: str = "USD") -> None:
        self._accounts[key] = _Account(Decimal(str(balance)), currency)

    def balance_of(self, key: str) -> Decimal:
        self._settle()
        return self._accounts[key].balance

    def set_balance(self, key: str, amount: Decimal | str | int) -> None:
        self._accounts[key].balance = Decimal(str(amount))

    def currency_of(self, key: str) -> str:
        return self._accounts[key].currency

    # ---- catalog --------------------------------------------------------------------------------------
    def service(self, service_id: int) -> dict[str, Any]:
        return self._by_id[int(service_id)]

    def first_service_of_type(self, type_name: str) -> dict[str, Any]:
        for svc in self.catalog:
            if svc["type"] == type_name:
                return svc
        raise LookupError(f"no service of type {type_name!r}")

    def charge_for(self, service_id: int, quantity: int, runs: int = 1, currency: str = "USD") -> Decimal:
        """What `add` charges: rate x quantity x runs / 1000 (packages: the rate), 5 decimals."""
        svc = self.service(service_id)
        rate = rate_in(svc["rate"], currency)
        raw = rate if svc["type"] in FLAT_PRICE_TYPES else rate * quantity * runs / 1000
        return raw.quantize(CENT5, ROUND_HALF_UP)

    def count(self, action: str) -> int:
        return self._counts.get(action, 0)

    # ---- life cycle ------------------------------------------------------------------------------------
    def _duration(self, o: SimOrder) -> float:
        delivery = o.total * self.seconds_per_1000 / 1000
        if o.runs > 1:
            delivery = max(delivery, (o.runs - 1) * o.interval * 60)
        return max(delivery, 1.0)

    def _order_state(self, o: SimOrder, now: float) -> tuple[str, int, int | None]:
        """(status, remains, start_count) at `now`, in the jap wording."""
        started = now - o.created_at >= self.pending_seconds
        if o.forced_status is not None:
            remains = o.forced_remains
            if remains is None:
                remains = 0 if o.forced_status == "Completed" else self._natural(o, now)[1]
            return o.forced_status, remains, (o.start_base if o.forced_status != "Pending" else None)
        if o.canceled_at is not None:
            was_started = o.canceled_at - o.created_at >= self.pending_seconds
            return "Canceled", o.canceled_remains, (o.start_base if was_started else None)
        status, remains = self._natural(o, now)
        return status, remains, (o.start_base if started else None)

    def _natural(self, o: SimOrder, now: float) -> tuple[str, int]:
        elapsed = now - o.created_at - self.pending_seconds
        if elapsed < 0:
            return "Pending", o.total
        duration = self._duration(o)
        if o.partial_at is not None and elapsed >= o.partial_at * duration:
            return "Partial", max(1, o.total - int(o.total * o.partial_at))
        if elapsed >= duration:
            return "Completed", 0
        return "In progress", max(1, o.total - int(o.total * elapsed / duration))

    def _settle(self) -> None:
        """Refund the orders that have become Partial by now (lazily, when anyone looks)."""
        now = self.clock.now()
        while self._refunds_due and self._refunds_due[0][0] <= now:
            _, oid = heapq.heappop(self._refunds_due)
            o = self.orders[oid]
            if o.canceled_at is None and o.forced_status is None:
                status, remains, _ = self._order_state(o, now)
                if status == "Partial":
                    self._refund(o, remains)

    def _refund(self, o: SimOrder, remains: int) -> None:
        amount = (o.charge * remains / o.total).quantize(CENT5, ROUND_HALF_UP) if o.total else o.charge
        amount = min(amount, o.charge - o.refunded)
        o.refunded += amount
        self._accounts[o.key].balance += amount

    def _refill_state(self, r: SimRefill, now: float) -> str:
        if r.forced_status is not None:
            return r.forced_status
        age = now - r.created_at
        if age < self.pending_seconds:
            return "Pending"
        if age < self.pending_seconds + self.refill_seconds:
            return "In progress"
        return "Rejected" if r.rejected else "Completed"

    def force_status(self, order_id: int, status: str, remains: int | None = None) -> None:
        """Pin an order's status (any text, e.g. "Refunded"); does not touch the balance."""
        o = self.orders[order_id]
        o.forced_status = status
        o.forced_remains = remains

    def force_refill_status(self, refill_id: int, status: str) -> None:
        self.refills[refill_id].forced_status = status

    # ---- wire formatting --------------------------------------------------------------------------------
    def _status_word(self, status: str) -> str:
        return status.lower() if self.dialect == "smart" else status

    def _err(self, text: str, *args: object) -> dict[str, str]:
        if self.dialect == "smart" and text in SMART_ERRORS:
            return {"error": SMART_ERRORS[text]}
        return {"error": text.format(*args) if args else text}

    def _order_wire(self, o: SimOrder, now: float) -> dict[str, Any]:
        status, remains, start = self._order_state(o, now)
        if self.dialect == "smart":
            return {
                "charge": float(o.charge),
                "start_count": start,
                "status": self._status_word(status),
                "remains": remains,
                "currency": o.currency,
            }
        return {
            "charge": _money(o.charge),
            "start_count": None if start is None else str(start),
            "status": status,
            "remains": str(remains),
            "currency": o.currency,
        }

    def _dumps(self, obj: Any) -> bytes:
        if self.dialect == "smart":
            return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
        # PHP's json_encode: \uXXXX escapes and escaped slashes. "/" only ever occurs inside JSON strings.
        return json.dumps(obj, separators=(",", ":")).replace("/", "\\/").encode()

    # ---- actions ---------------------------------------------------------------------------------------
    def _act_balance(self, acc: _Account, key: str, p: dict[str, str]) -> Any:
        bal = acc.balance.quantize(CENT5, ROUND_HALF_UP)
        if self.dialect == "smart":
            return {"status": "success", "balance": float(bal), "currency": acc.currency}
        return {"balance": format(bal, "f"), "currency": acc.currency}

    def _act_services(self, acc: _Account, key: str, p: dict[str, str]) -> Any:
        return [service_to_wire(s, self.dialect, acc.currency) for s in self.catalog]

    def _act_add(self, acc: _Account, key: str, p: dict[str, str]) -> Any:
        sid = _int(p.get("service"))
        svc = self._by_id.get(sid) if sid is not None else None
        if svc is None:
            raise _PanelError(E_SERVICE)
        typ = svc["type"]
        required, optional = TYPE_FIELDS[typ]
        link = (p.get("link") or "").strip()
        if typ not in _NO_LINK_TYPES:
            ok = _URL_RE.match(link) or (typ not in _URL_ONLY_TYPES and _USERNAME_RE.match(link))
            if not ok:
                raise _PanelError(E_LINK)
        for name in required:
            if name != "link" and not (p.get(name) or "").strip():
                raise _PanelError(E_REQUEST)
        runs, interval = 1, 0
        if typ in LINE_QUANTITY_FIELD:
            quantity = len(_lines(p.get(LINE_QUANTITY_FIELD[typ])))
        elif typ == "Package":
            quantity = 1
        elif typ == "Subscriptions":
            quantity = self._check_subscription(svc, p)
        else:
            q = _int(p.get("quantity"))
            if q is None:
                raise _PanelError(E_REQUEST)
            quantity = q
        if typ not in ("Package", "Subscriptions"):
            if quantity < svc["min"]:
                raise _PanelError(E_MIN, svc["min"])
            if quantity > svc["max"]:
                raise _PanelError(E_MAX, svc["max"])
        if "runs" in optional and (p.get("runs") or p.get("interval")):
            if not svc["dripfeed"]:
                raise _PanelError(E_DRIPFEED)
            r, i = _int(p.get("runs")), _int(p.get("interval"))
            if r is None or i is None or r < 1 or i < 1:
                raise _PanelError(E_REQUEST)
            runs, interval = r, i
        self._check_type_fields(typ, p)
        now = self.clock.now()
        if typ not in _NO_LINK_TYPES:
            for oid in self._by_link.get((key, link), ()):
                if self._order_state(self.orders[oid], now)[0] not in FINAL:
                    raise _PanelError(E_DUPLICATE)
        charge = self.charge_for(svc["service"], quantity, runs, acc.currency)
        if charge > acc.balance:
            raise _PanelError(E_FUNDS)
        acc.balance -= charge
        oid = self._next_order
        self._next_order += 1
        rng = random.Random(self.seed * 1_000_003 + oid)  # per-order fate: deterministic for a given seed
        extra = {k: v for k, v in p.items() if k not in ("service", "link", "quantity")}
        o = SimOrder(
            id=oid,
            key=key,
            service_id=svc["service"],
            service_type=typ,
            link=link,
            quantity=quantity,
            fields=extra,
            charge=charge,
            currency=acc.currency,
            created_at=now,
            runs=runs,
            interval=interval,
            partial_at=rng.uniform(0.2, 0.9) if rng.random() < 0.1 else None,
            start_base=rng.randint(0, 60000),
            sim=self,
        )
        self.orders[oid] = o
        if typ not in _NO_LINK_TYPES:
            self._by_link.setdefault((key, link), []).append(oid)
        if o.partial_at is not None:
            due = now + self.pending_seconds + o.partial_at * self._duration(o)
            heapq.heappush(self._refunds_due, (due, oid))
        if self.dialect == "smart":
            return {"status": "success", "order": oid}
        return {"order": oid}

    def _check_subscription(self, svc: dict[str, Any], p: dict[str, str]) -> int:
        lo, hi = _int(p.get("min")), _int(p.get("max"))
        if lo is None or hi is None or lo > hi:
            raise _PanelError(E_REQUEST)
        if lo < svc["min"]:
            raise _PanelError(E_MIN, svc["min"])
        if hi > svc["max"]:
            raise _PanelError(E_MAX, svc["max"])
        if not _USERNAME_RE.match((p.get("username") or "").strip()):
            raise _PanelError(E_LINK)
        delay = _int(p.get("delay"))
        if delay not in SUBSCRIPTION_DELAYS:
            raise _PanelError(E_REQUEST)
        posts = _int(p.get("posts")) if p.get("posts") else None
        if p.get("posts") and (posts is None or posts < 1):
            raise _PanelError(E_REQUEST)
        if p.get("expiry"):
            try:
                datetime.strptime(p["expiry"].strip(), "%d/%m/%Y")
            except ValueError as exc:
                raise _PanelError(E_REQUEST) from exc
        return hi * (posts or 1)  # charged up front for max per post, for every post (one if unlimited)

    def _check_type_fields(self, typ: str, p: dict[str, str]) -> None:
        if typ == "Poll":
            n = _int(p.get("answer_number"))
            if n is None or n < 1:
                raise _PanelError(E_REQUEST)
        elif typ == "Mentions Media Likers" and not _URL_RE.match(p.get("media", "").strip()):
            raise _PanelError(E_LINK)
        elif typ == "Comment Likes" or typ == "Comment Replies" or typ == "Mentions User Followers":
            if not _USERNAME_RE.match(p.get("username", "").strip()):
                raise _PanelError(E_REQUEST)

    def _own_order(self, key: str, raw: str) -> SimOrder | None:
        oid = _int(raw)
        o = self.orders.get(oid) if oid is not None else None
        return o if o is not None and o.key == key else None

    def _act_status(self, acc: _Account, key: str, p: dict[str, str]) -> Any:
        now = self.clock.now()

        def one(raw: str) -> dict[str, Any]:
            o = self._own_order(key, raw)
            if o is None or now - o.created_at < self.status_lag:
                return {"error": E_ORDER}
            return self._order_wire(o, now)

        if p.get("orders") is not None:
            ids = _id_list(p["orders"])
            if not ids or len(ids) > MAX_IDS:
                raise _PanelError(E_REQUEST)
            return {raw: one(raw) for raw in ids}
        if not p.get("order"):
            raise _PanelError(E_REQUEST)
        return one(p["order"])

    def _refill_one(self, key: str, raw: str) -> int | str:
        """A new refill id, or an error text."""
        o = self._own_order(key, raw)
        if o is None:
            return E_ORDER
        if not self._by_id[o.service_id]["refill"]:
            return E_REFILL_DISABLED
        now = self.clock.now()
        if self._order_state(o, now)[0] not in ("Completed", "Partial"):
            return E_NOT_COMPLETED
        for rid in self._refills_by_order.get(o.id, ()):
            if self._refill_state(self.refills[rid], now) in ("Pending", "In progress"):
                return E_REFILL_ACTIVE
        rid = self._next_refill
        self._next_refill += 1
        rejected = random.Random(self.seed * 7_000_003 + rid).random() < 0.15
        self.refills[rid] = SimRefill(
            id=rid, key=key, order_id=o.id, created_at=now, rejected=rejected, sim=self
        )
        self._refills_by_order.setdefault(o.id, []).append(rid)
        return rid

    def _act_refill(self, acc: _Account, key: str, p: dict[str, str]) -> Any:
        if p.get("orders") is not None:
            ids = _id_list(p["orders"])
            if not ids or len(ids) > MAX_IDS:
                raise _PanelError(E_REQUEST)
            out = []
            for raw in ids:
                res = self._refill_one(key, raw)
                out.append(
                    {
                        "order": _int(raw) if _int(raw) is not None else raw,
                        "refill": res if isinstance(res, int) else {"error": res},
                    }
                )
            return out
        if not p.get("order"):
            raise _PanelError(E_REQUEST)
        res = self._refill_one(key, p["order"])
        if isinstance(res, str):
            raise _PanelError(res)
        if self.dialect == "smart":
            return {"success": "Your order will be refill asap. Thank you for patience", "refill": res}
        return {"refill": str(res)}

    def _act_refill_status(self, acc: _Account, key: str, p: dict[str, str]) -> Any:
        now = self.clock.now()

        def one(raw: str) -> str | None:
            rid = _int(raw)
            r = self.refills.get(rid) if rid is not None else None
            if r is None or r.key != key:
                return None
            return self._status_word(self._refill_state(r, now))

        if p.get("refills") is not None:
            ids = _id_list(p["refills"])
            if not ids or len(ids) > MAX_IDS:
                raise _PanelError(E_REQUEST)
            out = []
            for raw in ids:
                st = one(raw)
                out.append(
                    {
                        "refill": _int(raw) if _int(raw) is not None else raw,
                        "status": st if st is not None else {"error": E_REFILL_NOT_FOUND},
                    }
                )
            return out
        if not p.get("refill"):
            raise _PanelError(E_REQUEST)
        st = one(p["refill"])
        if st is None:
            raise _PanelError(E_REFILL_NOT_FOUND)
        return {"status": st}

    def _act_cancel(self, acc: _Account, key: str, p: dict[str, str]) -> Any:
        now = self.clock.now()
        raw_ids = p.get("orders") if p.get("orders") is not None else p.get("order")
        ids = _id_list(raw_ids or "")
        if not ids or len(ids) > MAX_IDS:
            raise _PanelError(E_REQUEST)
        out = []
        for raw in ids:
            res: int | dict[str, str] = 1
            o = self._own_order(key, raw)
            if o is None:
                res = {"error": E_ORDER}
            elif not self._by_id[o.service_id]["cancel"]:
                res = {"error": E_CANCEL_DISABLED}
            else:
                status, remains, _ = self._order_state(o, now)
                if status not in ("Pending", "In progress"):
                    res = {"error": E_CANNOT_CANCEL}
                else:
                    o.canceled_at, o.canceled_remains = now, remains
                    self._refund(o, remains)  # the undelivered part: everything when still Pending
            out.append({"order": _int(raw) if _int(raw) is not None else raw, "cancel": res})
        return out

    _ACTIONS: ClassVar[dict[str, str]] = {
        "balance": "_act_balance",
        "services": "_act_services",
        "add": "_act_add",
        "status": "_act_status",
        "refill": "_act_refill",
        "refill_status": "_act_refill_status",
        "cancel": "_act_cancel",
    }

    def process(self, params: dict[str, str]) -> Any:
        """Answer one request's parameters (no faults, no HTTP): the JSON-able answer."""
        self._settle()
        key = (params.get("key") or "").strip()
        acc = self._accounts.get(key)
        try:
            if acc is None:
                raise _PanelError(E_KEY)
            method = self._ACTIONS.get((params.get("action") or "").strip())
            if method is None:
                raise _PanelError(E_REQUEST)
            return getattr(self, method)(acc, key, params)
        except _PanelError as exc:
            return self._err(exc.text, *exc.args_)

    # ---- HTTP ------------------------------------------------------------------------------------------
    async def _params(self, request: web.Request) -> dict[str, str]:
        params = {k: v for k, v in request.query.items()}
        if request.method == "POST" and request.can_read_body:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    body = None
                if isinstance(body, dict):
                    for k, v in body.items():
                        if isinstance(v, list):
                            v = ",".join(str(x) for x in v)
                        params[str(k)] = v if isinstance(v, str) else json.dumps(v) if v is not None else ""
            else:
                form = await request.post()
                params.update({k: v for k, v in form.items() if isinstance(v, str)})
        return params

    async def _sleep(self, seconds: float) -> None:
        """Sleep that ends at once when the simulator stops, so `stop()` never waits for a hang."""
        if seconds > 0 and not self._stopping.is_set():
            try:
                await asyncio.wait_for(self._stopping.wait(), seconds)
            except TimeoutError:
                pass

    def _fault_response(self, kind: str) -> web.Response:
        if kind == "502":
            return web.Response(status=502, text=_HTML_502, content_type="text/html")
        if kind == "html":
            return web.Response(status=200, text=_HTML_CLOUDFLARE, content_type="text/html")
        if kind == "429":
            return web.Response(
                status=429,
                headers={"Retry-After": "1"},
                content_type="application/json",
                text='{"error":"Too many requests"}',
            )
        if kind == "malformed":
            body = self._fault_rng.choice(_MALFORMED)
            ctype = "text/html" if body.startswith("<br") else "application/json"
            return web.Response(status=200, text=body, content_type=ctype)
        raise ValueError(f"unknown fault kind {kind!r}")

    def _pick_fault(self, action: str) -> str | None:
        f = self.faults
        if action in f.fail_actions:
            return f.fail_actions[action]
        for kind, rate in (
            ("502", f.error_rate),
            ("html", f.html_rate),
            ("429", f.rate_limit_rate),
            ("malformed", f.malformed_rate),
        ):
            if rate > 0 and self._fault_rng.random() < rate:
                return kind
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        params = await self._params(request)
        action = (params.get("action") or "").strip()
        self.requests.append((action, {k: v for k, v in params.items() if k not in ("key", "action")}))
        self._counts[action] = self._counts.get(action, 0) + 1
        f = self.faults
        await self._sleep(f.latency)
        kind = self._pick_fault(action)
        if kind is not None:
            return self._fault_response(kind)
        if f.hang_rate > 0 and self._fault_rng.random() < f.hang_rate:
            await self._sleep(f.hang_seconds)  # a slow panel: the client has likely given up by now
        answer = self.process(params)
        if action in f.hang_actions:
            await self._sleep(f.hang_seconds)  # processed, but the answer comes too late
        return web.Response(body=self._dumps(answer), content_type="application/json")

    def make_app(self) -> web.Application:
        app = web.Application()
        for path in ("/api/v2", "/api/v2/"):
            app.router.add_route("POST", path, self._handle)
            app.router.add_route("GET", path, self._handle)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        bound_port = self._runner.addresses[0][1]
        self.url = f"http://{host}:{bound_port}/api/v2"
        return self.url

    async def stop(self) -> None:
        self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


async def run_standalone(
    host: str, port: int, services: int = 300, dialect: str = "jap", latency: float = 0.0
) -> None:
    """Serve a simulator until cancelled (for `make demo` and manual poking with curl)."""
    sim = PanelSimulator(services=services, dialect=dialect, faults=Faults(latency=latency))
    url = await sim.start(host, port)
    bal = sim.balance_of(sim.DEFAULT_KEY)
    print(f"Panel simulator at {url} — key: {sim.DEFAULT_KEY} ({bal.normalize():f} USD)", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description="SMM panel API v2 simulator")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8081)
    ap.add_argument("--services", type=int, default=300)
    ap.add_argument("--dialect", choices=["jap", "smart"], default="jap")
    ap.add_argument("--latency", type=float, default=0.0)
    a = ap.parse_args(argv)
    try:
        asyncio.run(run_standalone(a.host, a.port, a.services, a.dialect, a.latency))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

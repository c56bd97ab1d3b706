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
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar

from aiohttp import web

from bot.sandbox.panel_actions import PanelActions
from bot.sandbox.panel_catalog import FLAT_PRICE_TYPES, SERVICE_TYPES, TYPE_FIELDS, generate_catalog, rate_in
from bot.sandbox.panel_state import (
    CENT5,
    E_KEY,
    E_REQUEST,
    FIRST_ORDER_ID,
    FIRST_REFILL_ID,
    SMART_ERRORS,
    Faults,
    SimAccount,
    SimClock,
    SimOrder,
    SimPanelError,
    SimRefill,
    money_text,
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


class PanelSimulator(PanelActions):
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
        self._accounts: dict[str, SimAccount] = {}
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
        self._accounts[key] = SimAccount(Decimal(str(balance)), currency)

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
            "charge": money_text(o.charge),
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
                raise SimPanelError(E_KEY)
            method = self._ACTIONS.get((params.get("action") or "").strip())
            if method is None:
                raise SimPanelError(E_REQUEST)
            return getattr(self, method)(acc, key, params)
        except SimPanelError as exc:
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
        if f.long_text > 0:
            answer = self._lengthen(action, params, answer)
        if action in f.hang_actions:
            await self._sleep(f.hang_seconds)  # processed, but the answer comes too late
        return web.Response(body=self._dumps(answer), content_type="application/json")

    def _pad(self, text: Any) -> Any:
        n = self.faults.long_text
        if not isinstance(text, str) or len(text) >= n:
            return text
        return f"{text} " + "x" * (n - len(text) - 1)

    def _lengthen(self, action: str, params: dict[str, str], answer: Any) -> Any:
        """The `long_text` fault: see Faults."""
        chosen = self.faults.long_text_orders

        def order(raw: str, item: Any) -> Any:
            if not isinstance(item, dict):
                return item
            if "error" in item:
                return {**item, "error": self._pad(item["error"])}
            if chosen and (int(raw) if raw.strip().isdigit() else None) not in chosen:
                return item
            return {
                **item,
                "status": self._pad(item.get("status")),
                "currency": self._pad(item.get("currency")),
            }

        if isinstance(answer, dict) and set(answer) == {"error"}:
            return {"error": self._pad(answer["error"])}
        if action == "services" and isinstance(answer, list):
            return [{**s, "type": self._pad(s.get("type"))} for s in answer]
        if action == "add" and isinstance(answer, dict) and "order" in answer:
            return {**answer, "currency": self._pad("USD")}
        if action == "status" and isinstance(answer, dict):
            if params.get("orders") is not None:
                return {raw: order(raw, item) for raw, item in answer.items()}
            return order(params.get("order") or "", answer)
        return answer

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

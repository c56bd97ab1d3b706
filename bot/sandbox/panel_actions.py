"""The panel simulator's API actions (add, status, refill, refill_status, cancel, balance, services).

A mixin: `PanelActions` holds the `_act_*` methods and their checks; `PanelSimulator` (bot/sandbox/panel.py)
inherits it and supplies the state, the life cycle and the wire formatting they use.
"""

from __future__ import annotations

import heapq
import random
from datetime import datetime
from decimal import ROUND_HALF_UP
from typing import TYPE_CHECKING, Any, cast

from bot.sandbox.panel_catalog import LINE_QUANTITY_FIELD, TYPE_FIELDS, service_to_wire
from bot.sandbox.panel_state import (
    CENT5,
    E_CANCEL_DISABLED,
    E_CANNOT_CANCEL,
    E_DRIPFEED,
    E_DUPLICATE,
    E_FUNDS,
    E_LINK,
    E_MAX,
    E_MIN,
    E_NOT_COMPLETED,
    E_ORDER,
    E_REFILL_ACTIVE,
    E_REFILL_DISABLED,
    E_REFILL_NOT_FOUND,
    E_REQUEST,
    E_SERVICE,
    FINAL,
    MAX_IDS,
    NO_LINK_TYPES,
    SUBSCRIPTION_DELAYS,
    URL_ONLY_TYPES,
    URL_RE,
    USERNAME_RE,
    SimAccount,
    SimOrder,
    SimPanelError,
    SimRefill,
    id_list,
    int_or_none,
    split_lines,
)

if TYPE_CHECKING:
    from decimal import Decimal

    from bot.sandbox.panel import PanelSimulator
    from bot.sandbox.panel_state import SimClock


class PanelActions:
    """The `_act_*` methods of PanelSimulator; relies on the simulator's attributes and helpers."""

    if TYPE_CHECKING:
        dialect: str
        seed: int
        clock: SimClock
        pending_seconds: float
        status_lag: float
        catalog: list[dict[str, Any]]
        _by_id: dict[int, dict[str, Any]]
        orders: dict[int, SimOrder]
        refills: dict[int, SimRefill]
        _next_order: int
        _next_refill: int
        _by_link: dict[tuple[str, str], list[int]]
        _refills_by_order: dict[int, list[int]]
        _refunds_due: list[tuple[float, int]]

        def charge_for(
            self, service_id: int, quantity: int, runs: int = 1, currency: str = "USD"
        ) -> Decimal: ...
        def _duration(self, o: SimOrder) -> float: ...
        def _order_state(self, o: SimOrder, now: float) -> tuple[str, int, int | None]: ...
        def _refund(self, o: SimOrder, remains: int) -> None: ...
        def _refill_state(self, r: SimRefill, now: float) -> str: ...
        def _status_word(self, status: str) -> str: ...
        def _order_wire(self, o: SimOrder, now: float) -> dict[str, Any]: ...

    def _act_balance(self, acc: SimAccount, key: str, p: dict[str, str]) -> Any:
        bal = acc.balance.quantize(CENT5, ROUND_HALF_UP)
        if self.dialect == "smart":
            return {"status": "success", "balance": float(bal), "currency": acc.currency}
        return {"balance": format(bal, "f"), "currency": acc.currency}

    def _act_services(self, acc: SimAccount, key: str, p: dict[str, str]) -> Any:
        return [service_to_wire(s, self.dialect, acc.currency) for s in self.catalog]

    def _act_add(self, acc: SimAccount, key: str, p: dict[str, str]) -> Any:
        sid = int_or_none(p.get("service"))
        svc = self._by_id.get(sid) if sid is not None else None
        if svc is None:
            raise SimPanelError(E_SERVICE)
        typ = svc["type"]
        required, optional = TYPE_FIELDS[typ]
        link = (p.get("link") or "").strip()
        if typ not in NO_LINK_TYPES:
            ok = URL_RE.match(link) or (typ not in URL_ONLY_TYPES and USERNAME_RE.match(link))
            if not ok:
                raise SimPanelError(E_LINK)
        for name in required:
            if name != "link" and not (p.get(name) or "").strip():
                raise SimPanelError(E_REQUEST)
        runs, interval = 1, 0
        if typ in LINE_QUANTITY_FIELD:
            quantity = len(split_lines(p.get(LINE_QUANTITY_FIELD[typ])))
        elif typ == "Package":
            quantity = 1
        elif typ == "Subscriptions":
            quantity = self._check_subscription(svc, p)
        else:
            q = int_or_none(p.get("quantity"))
            if q is None:
                raise SimPanelError(E_REQUEST)
            quantity = q
        if typ not in ("Package", "Subscriptions"):
            if quantity < svc["min"]:
                raise SimPanelError(E_MIN, svc["min"])
            if quantity > svc["max"]:
                raise SimPanelError(E_MAX, svc["max"])
        if "runs" in optional and (p.get("runs") or p.get("interval")):
            if not svc["dripfeed"]:
                raise SimPanelError(E_DRIPFEED)
            r, i = int_or_none(p.get("runs")), int_or_none(p.get("interval"))
            if r is None or i is None or r < 1 or i < 1:
                raise SimPanelError(E_REQUEST)
            runs, interval = r, i
        self._check_type_fields(typ, p)
        now = self.clock.now()
        if typ not in NO_LINK_TYPES:
            for oid in self._by_link.get((key, link), ()):
                if self._order_state(self.orders[oid], now)[0] not in FINAL:
                    raise SimPanelError(E_DUPLICATE)
        charge = self.charge_for(svc["service"], quantity, runs, acc.currency)
        if charge > acc.balance:
            raise SimPanelError(E_FUNDS)
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
            sim=cast("PanelSimulator", self),
        )
        self.orders[oid] = o
        if typ not in NO_LINK_TYPES:
            self._by_link.setdefault((key, link), []).append(oid)
        if o.partial_at is not None:
            due = now + self.pending_seconds + o.partial_at * self._duration(o)
            heapq.heappush(self._refunds_due, (due, oid))
        if self.dialect == "smart":
            return {"status": "success", "order": oid}
        return {"order": oid}

    def _check_subscription(self, svc: dict[str, Any], p: dict[str, str]) -> int:
        lo, hi = int_or_none(p.get("min")), int_or_none(p.get("max"))
        if lo is None or hi is None or lo > hi:
            raise SimPanelError(E_REQUEST)
        if lo < svc["min"]:
            raise SimPanelError(E_MIN, svc["min"])
        if hi > svc["max"]:
            raise SimPanelError(E_MAX, svc["max"])
        if not USERNAME_RE.match((p.get("username") or "").strip()):
            raise SimPanelError(E_LINK)
        delay = int_or_none(p.get("delay"))
        if delay not in SUBSCRIPTION_DELAYS:
            raise SimPanelError(E_REQUEST)
        posts = int_or_none(p.get("posts")) if p.get("posts") else None
        if p.get("posts") and (posts is None or posts < 1):
            raise SimPanelError(E_REQUEST)
        if p.get("expiry"):
            try:
                datetime.strptime(p["expiry"].strip(), "%d/%m/%Y")
            except ValueError as exc:
                raise SimPanelError(E_REQUEST) from exc
        return hi * (posts or 1)  # charged up front for max per post, for every post (one if unlimited)

    def _check_type_fields(self, typ: str, p: dict[str, str]) -> None:
        if typ == "Poll":
            n = int_or_none(p.get("answer_number"))
            if n is None or n < 1:
                raise SimPanelError(E_REQUEST)
        elif typ == "Mentions Media Likers" and not URL_RE.match(p.get("media", "").strip()):
            raise SimPanelError(E_LINK)
        elif typ == "Comment Likes" or typ == "Comment Replies" or typ == "Mentions User Followers":
            if not USERNAME_RE.match(p.get("username", "").strip()):
                raise SimPanelError(E_REQUEST)

    def _own_order(self, key: str, raw: str) -> SimOrder | None:
        oid = int_or_none(raw)
        o = self.orders.get(oid) if oid is not None else None
        return o if o is not None and o.key == key else None

    def _act_status(self, acc: SimAccount, key: str, p: dict[str, str]) -> Any:
        now = self.clock.now()

        def one(raw: str) -> dict[str, Any]:
            o = self._own_order(key, raw)
            if o is None or now - o.created_at < self.status_lag:
                return {"error": E_ORDER}
            return self._order_wire(o, now)

        if p.get("orders") is not None:
            ids = id_list(p["orders"])
            if not ids or len(ids) > MAX_IDS:
                raise SimPanelError(E_REQUEST)
            return {raw: one(raw) for raw in ids}
        if not p.get("order"):
            raise SimPanelError(E_REQUEST)
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
            id=rid,
            key=key,
            order_id=o.id,
            created_at=now,
            rejected=rejected,
            sim=cast("PanelSimulator", self),
        )
        self._refills_by_order.setdefault(o.id, []).append(rid)
        return rid

    def _act_refill(self, acc: SimAccount, key: str, p: dict[str, str]) -> Any:
        if p.get("orders") is not None:
            ids = id_list(p["orders"])
            if not ids or len(ids) > MAX_IDS:
                raise SimPanelError(E_REQUEST)
            out = []
            for raw in ids:
                res = self._refill_one(key, raw)
                out.append(
                    {
                        "order": int_or_none(raw) if int_or_none(raw) is not None else raw,
                        "refill": res if isinstance(res, int) else {"error": res},
                    }
                )
            return out
        if not p.get("order"):
            raise SimPanelError(E_REQUEST)
        res = self._refill_one(key, p["order"])
        if isinstance(res, str):
            raise SimPanelError(res)
        if self.dialect == "smart":
            return {"success": "Your order will be refill asap. Thank you for patience", "refill": res}
        return {"refill": str(res)}

    def _act_refill_status(self, acc: SimAccount, key: str, p: dict[str, str]) -> Any:
        now = self.clock.now()

        def one(raw: str) -> str | None:
            rid = int_or_none(raw)
            r = self.refills.get(rid) if rid is not None else None
            if r is None or r.key != key:
                return None
            return self._status_word(self._refill_state(r, now))

        if p.get("refills") is not None:
            ids = id_list(p["refills"])
            if not ids or len(ids) > MAX_IDS:
                raise SimPanelError(E_REQUEST)
            out = []
            for raw in ids:
                st = one(raw)
                out.append(
                    {
                        "refill": int_or_none(raw) if int_or_none(raw) is not None else raw,
                        "status": st if st is not None else {"error": E_REFILL_NOT_FOUND},
                    }
                )
            return out
        if not p.get("refill"):
            raise SimPanelError(E_REQUEST)
        st = one(p["refill"])
        if st is None:
            raise SimPanelError(E_REFILL_NOT_FOUND)
        return {"status": st}

    def _act_cancel(self, acc: SimAccount, key: str, p: dict[str, str]) -> Any:
        now = self.clock.now()
        raw_ids = p.get("orders") if p.get("orders") is not None else p.get("order")
        ids = id_list(raw_ids or "")
        if not ids or len(ids) > MAX_IDS:
            raise SimPanelError(E_REQUEST)
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
            out.append({"order": int_or_none(raw) if int_or_none(raw) is not None else raw, "cancel": res})
        return out

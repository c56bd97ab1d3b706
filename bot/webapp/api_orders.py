"""The Mini App's orders dashboard: the list with progress, refresh / refill / cancel through the chat's own
domain functions (bot/order_requests.py), and the spend chart of the last 30 days."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bot import order_requests
from bot.formatting import delivered, format_money, progress_percent
from bot.i18n import Translator, lazy, status_name
from bot.panel import normalize_status
from bot.webapp.charts import spend_svg
from bot.webapp.request_context import ApiError, Requests, body, guarded, int_param, json_response
from bot.webapp.texts import action_notice
from storage import repo
from storage.models import Order, Placement
from storage.repo.orders import ORDER_FILTERS

# Where an order not (yet) placed stands: the chat card's own words (handlers/cards.py), shared msgids.
PLACEMENT_TEXT = {
    Placement.drafted: lazy("Not confirmed"),
    Placement.sending: lazy("Sending to the panel…"),
    Placement.unclear: lazy("Unclear: the panel did not answer"),
    Placement.rejected: lazy("Rejected by the panel"),
}
PAGE_SIZE = 20
SPEND_DAYS = 30
ACTIONS = ("refresh", "refill", "cancel")


def order_json(_: Translator, order: Order) -> dict[str, Any]:
    placed = order.placement == Placement.placed
    final = normalize_status(order.status or "") in order_requests.REFILLABLE
    amount = order.charge if order.charge is not None else order.price
    return {
        "id": order.id,
        "panel_order_id": order.panel_order_id,
        "account": order.account_id,
        "service_id": order.service_id,
        "service_name": order.service_name,
        "link": order.link,
        "quantity": order.quantity,
        "placement": order.placement,
        "status": status_name(_, order.status) if placed else _(PLACEMENT_TEXT[Placement(order.placement)]),
        "error": order.error,
        "charge": format_money(amount, order.currency),
        "start_count": order.start_count,
        "remains": order.remains,
        "delivered": delivered(order.quantity, order.remains) if placed else None,
        "percent": progress_percent(order.quantity, order.remains) if placed else None,
        "created_at": order.created_at.isoformat(timespec="minutes") if order.created_at else None,
        "can_refill": placed and order.refill_allowed and final,
        "can_cancel": placed and order_requests.may_cancel(order) is None,
    }


class OrdersApi:
    def __init__(self, requests: Requests) -> None:
        self.requests = requests

    def routes(self, base: str) -> list[web.AbstractRouteDef]:
        return [
            web.get(f"{base}/api/orders", guarded(self.orders)),
            web.post(f"{base}/api/orders/{{order_id:\\d+}}/{{action}}", guarded(self.act)),
            web.get(f"{base}/api/spend.svg", guarded(self.spend)),
        ]

    async def orders(self, request: web.Request) -> web.Response:
        caller = await self.requests.caller(request)
        query = request.query
        state = query.get("state") or None
        if state is not None and state not in ORDER_FILTERS:
            raise ApiError(400, f"state must be one of {', '.join(ORDER_FILTERS)}")
        account_id = int_param(query.get("account"), "account") or None
        if account_id is not None:
            caller.account(account_id)  # one of the chat's
        offset = max(0, int_param(query.get("offset"), "offset") or 0)
        async with self.requests.deps.sessions() as session:
            rows = await repo.orders.list_orders(
                session, caller.chat_id, offset, PAGE_SIZE + 1, state=state, account_id=account_id
            )
        return json_response(
            {
                "orders": [order_json(caller._, o) for o in rows[:PAGE_SIZE]],
                "more": len(rows) > PAGE_SIZE,
                "offset": offset,
            }
        )

    async def act(self, request: web.Request) -> web.Response:
        action = request.match_info["action"]
        if action not in ACTIONS:
            raise web.HTTPNotFound()
        data = await body(request)
        caller = await self.requests.caller(request, write=True, action=action, chat=data.get("chat"))
        order_id = int(request.match_info["order_id"])
        deps = self.requests.deps
        if action == "refresh":
            result = await order_requests.refresh(deps.sessions, deps.panels, order_id, caller.chat_id)
        elif action == "refill":
            result = await order_requests.request_refill(
                deps.sessions, deps.panels, order_id, caller.chat_id, caller.user.id
            )
        else:
            result = await order_requests.cancel(deps.sessions, deps.panels, order_id, caller.chat_id)
        return json_response(
            {
                "kind": result.kind,
                "message": action_notice(caller._, result, action),
                "order": order_json(caller._, result.order) if result.order else None,
            },
            200 if result.kind != order_requests.Kind.not_found else 404,
        )

    async def spend(self, request: web.Request) -> web.Response:
        caller = await self.requests.caller(request)
        account_id = int_param(request.query.get("account"), "account") or None
        if account_id is not None:
            caller.account(account_id)
        today = datetime.now(UTC).date()
        since = datetime.combine(today - timedelta(days=SPEND_DAYS - 1), datetime.min.time(), UTC)
        async with self.requests.deps.sessions() as session:
            totals = await repo.spend.spend_per_day(session, caller.chat_id, since, account_id)
        currencies = Counter(currency for _day, currency in totals)
        currency = currencies.most_common(1)[0][0] if currencies else ""
        by_day = {day: amount for (day, cur), amount in totals.items() if cur == currency}
        svg = spend_svg(by_day, today, currency, SPEND_DAYS)
        return web.Response(
            text=svg, content_type="image/svg+xml", headers={"Cache-Control": "private, max-age=30"}
        )

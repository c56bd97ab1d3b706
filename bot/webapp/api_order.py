"""The Mini App's order form: a live quote, the stored draft (the summary) and Confirm.

The form's values are checked by bot/order_form.py (the wizard's own rules), the draft is the row the chat's
summary stores, and Confirm calls `ordering.place_order` with its token: one order however often it is
pressed. A placed order is told in the chat through the outbox, as the chat's own Confirm tells it.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import Any

from aiohttp import web

from bot import delivery, notices, ordering
from bot.formatting import format_money
from bot.i18n import Translator, lazy
from bot.order_form import check_form, store_draft
from bot.panel import NotEnoughFunds, PanelUnavailable, RateLimited, Service
from bot.webapp.api_catalog import CatalogApi
from bot.webapp.api_orders import order_json
from bot.webapp.request_context import ApiError, Caller, Requests, account_name, body, guarded, json_response
from storage import repo
from storage.models import Account, Order

log = logging.getLogger(__name__)

# The chat's msgid (handlers/order_steps.py UNCLEAR), so the translation is shared.
UNCLEAR = lazy(
    "⚠️ We could not tell whether the panel took this order. Please check your panel's order list before "
    "ordering again."
)


def _money(amount: Decimal | None, currency: str | None) -> str | None:
    return None if amount is None else format_money(amount, currency)


def _balance_lines(price: Decimal | None, balance: Decimal | None, currency: str | None) -> dict[str, Any]:
    after = balance - price if balance is not None and price is not None else None
    return {
        "price": _money(price, currency),
        "balance": _money(balance, currency),
        "after": _money(after, currency),
        "enough": after is None or after >= 0,
    }


class OrderApi:
    def __init__(self, requests: Requests, catalogs: CatalogApi) -> None:
        self.requests = requests
        self.catalogs = catalogs

    def routes(self, base: str) -> list[web.AbstractRouteDef]:
        return [
            web.post(f"{base}/api/quote", guarded(self.quote)),
            web.post(f"{base}/api/draft", guarded(self.draft)),
            web.post(f"{base}/api/confirm", guarded(self.confirm)),
            web.post(f"{base}/api/discard", guarded(self.discard)),
        ]

    async def _form(
        self, request: web.Request, *, write: bool, action: str = "read"
    ) -> tuple[Caller, Account, Service, Any]:
        data = await body(request)
        caller = await self.requests.caller(request, write=write, action=action, chat=data.get("chat"))
        account = caller.account(data.get("account"))
        catalog = await self.catalogs.load_catalog(caller, account)
        try:
            service = catalog.get(int(data.get("service")))  # type: ignore[arg-type]
        except (TypeError, ValueError):
            service = None
        if service is None:
            raise ApiError(404, caller._("No service with id {id} on your panel.", id=data.get("service")))
        values = data.get("values")
        if not isinstance(values, dict):
            raise ApiError(400, "values must be an object")
        return caller, account, service, check_form(caller._, service, values)

    async def quote(self, request: web.Request) -> web.Response:
        """Price and balance after, as the user types (the stored balance: no panel call per keystroke)."""
        _caller, account, _service, check = await self._form(request, write=False)
        amount, currency = account.last_balance, account.currency
        if amount is None:  # never read yet: once, then it is stored on the account
            deps = self.requests.deps
            balance = await ordering.refresh_balance(deps.sessions, deps.panels, account)
            if balance is not None:
                amount, currency = balance.amount, balance.currency or currency
        return json_response({"errors": check.errors, **_balance_lines(check.price, amount, currency)})

    async def draft(self, request: web.Request) -> web.Response:
        """Every field valid: the balance read afresh, the draft stored; its token goes into Confirm."""
        caller, account, service, check = await self._form(request, write=True, action="draft")
        if not check.ok:
            return json_response({"errors": check.errors}, 400)
        deps = self.requests.deps
        balance = await ordering.refresh_balance(deps.sessions, deps.panels, account)
        currency = (balance.currency if balance else None) or account.currency
        order = await store_draft(
            deps.sessions,
            account,
            service,
            check.values,
            chat_id=caller.chat_id,
            user_id=caller.user.id,
            currency=currency,
        )
        amount = balance.amount if balance else account.last_balance
        return json_response(
            {"token": order.confirm_token, **_balance_lines(check.price, amount, currency), "errors": {}}
        )

    async def confirm(self, request: web.Request) -> web.Response:
        data = await body(request)
        caller = await self.requests.caller(request, write=True, action="order", chat=data.get("chat"))
        _ = caller._
        token = str(data.get("token") or "")[:64]
        deps = self.requests.deps
        result = await ordering.place_order(deps.sessions, deps.panels, token, chat_id=caller.chat_id)
        if result.order is None:
            raise ApiError(404, _("This summary is no longer valid; start again with /order"))
        if result.outcome == "placed":
            await self._tell_chat(caller, result.order)
        message = _message(_, result)
        return json_response(
            {"outcome": result.outcome, "message": message, "order": order_json(_, result.order)}
        )

    async def discard(self, request: web.Request) -> web.Response:
        """Edit after Review: the stored draft goes, as the chat's Edit discards it (its Confirm stops)."""
        data = await body(request)
        caller = await self.requests.caller(request, write=True, action="draft", chat=data.get("chat"))
        async with self.requests.deps.sessions() as session:
            gone = await repo.orders.discard_draft(session, str(data.get("token") or "")[:64], caller.chat_id)
            await session.commit()
        return json_response({"discarded": gone})

    async def _tell_chat(self, caller: Caller, order: Order) -> None:
        """The chat's "order placed" message, through the outbox (delivered within Telegram's limits,
        retried, deduplicated by the order id)."""
        account = next((a for a in caller.accounts if a.id == order.account_id), None)
        name = account_name(account) if account is not None and len(caller.accounts) > 1 else None
        notice = notices.order_placed(caller.chat, order, name)
        try:
            async with self.requests.deps.sessions() as session:
                await repo.outbox.enqueue(
                    session, order.chat_id, notice.text, notice.buttons, dedupe_key=f"app-placed:{order.id}"
                )
                await session.commit()
            delivery.wake(self.requests.application)  # sent now, not at the next outbox poll
        except Exception:  # the order is placed and shown in the page; the chat message is a courtesy
            log.exception("order %s: could not queue the chat's notice", order.id)


def _message(_: Translator, result: ordering.PlacementResult) -> str:
    if result.outcome == "placed":
        return _("✅ Order placed.")
    if result.outcome == "already":
        return _("Already confirmed")
    if result.outcome == "unclear":
        return _(UNCLEAR)
    error = result.error
    if isinstance(error, NotEnoughFunds):  # the chat's words for the common refusals (shared msgids)
        return _("Not enough funds on the panel balance")
    if isinstance(error, PanelUnavailable | RateLimited):
        return _("The panel is not reachable right now; nothing was sent. Please try again in a moment.")
    text = (error.panel_message or error.message) if error is not None else "?"
    return _("The panel refused the order: {error}", error=text)

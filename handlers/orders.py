"""The chat's orders: `/orders` and its pages, the order card, and the card's buttons (callback data scheme in
handlers/cards.py). Refill, cancel, `/status` and `/refill` live in handlers/order_actions.py; this module
registers them all.

In groups everyone sees the orders and may refresh them; refill and cancel check `may_order` on every press.

The list filters by state and, with several accounts, by account: `o:list:<page>:<filter>:<account id or 0>`
(filter a all, p active, c completed, x problems: unclear/rejected/partial/canceled); `o:list:<page>` is all.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import order_requests as actions
from bot.formatting import shorten
from bot.i18n import lazy
from bot.order_requests import Kind
from handlers import order_actions as acting
from handlers.accounts import chat_accounts, names_if_several
from handlers.cards import status_mark, status_text
from handlers.common import Button, Context, Turn, esc, int_arg, money, parse_callback, turn
from handlers.limits import must_wait
from storage import repo
from storage.models import Order

PAGE_SIZE = 8
NAME_WIDTH = 40  # characters of the service name in a list line
LABEL_WIDTH = 28  # ... and on a button
CALLBACKS = r"^o:(list|show|ref|fill|cxl|cxy)(:|$)"
# filter code -> (repo.orders state, button label)
FILTERS = {
    "a": (None, lazy("All")),
    "p": ("active", lazy("Active")),
    "c": ("completed", lazy("Completed")),
    "x": ("problems", lazy("Problems")),
}


def clip_name(name: str, width: int) -> str:
    return shorten(name or "", width, one_line=True)


def order_line(t: Turn, order: Order, account: str | None = None) -> str:
    ident = f"<code>#{order.panel_order_id}</code>" if order.panel_order_id else "—"
    quantity = order.quantity if order.quantity is not None else "—"
    price = money(order.charge if order.charge is not None else order.price, order.currency)
    name = esc(clip_name(order.service_name, NAME_WIDTH))
    line = f"{status_mark(order)} {ident} {name} · {quantity} · {price} · {status_text(t._, order)}"
    return f"{line} · <i>{esc(clip_name(account, LABEL_WIDTH))}</i>" if account else line


def order_button(order: Order) -> Button:
    ident = f"#{order.panel_order_id} " if order.panel_order_id else ""
    return (f"{status_mark(order)} {ident}{clip_name(order.service_name, LABEL_WIDTH)}", f"o:show:{order.id}")


def _filter_rows(t: Turn, flt: str, account_id: int, names: dict[int, str]) -> list[list[Button]]:
    """The state filters, and (several accounts) the account filters; the current ones marked •."""

    def mark(on: bool, text: str) -> str:
        return f"• {text}" if on else text

    rows = [
        [
            (mark(code == flt, t._(text)), f"o:list:0:{code}:{account_id}")
            for code, (_s, text) in FILTERS.items()
        ]
    ]
    if names:
        choices = [(0, t._("All panels")), *names.items()]
        buttons = [(mark(aid == account_id, clip_name(n, 20)), f"o:list:0:{flt}:{aid}") for aid, n in choices]
        rows += [buttons[i : i + 3] for i in range(0, len(buttons), 3)]
    return rows


async def show_list(t: Turn, page: int, flt: str = "a", account_id: int = 0) -> None:
    """One page of the chat's orders, newest first, filtered; a stale page number shows the nearest page."""
    flt = flt if flt in FILTERS else "a"
    names = await names_if_several(t)
    linked = {a.id for a in await chat_accounts(t)}
    account_id = account_id if account_id in linked else 0
    where: dict[str, Any] = {"state": FILTERS[flt][0], "account_id": account_id or None}
    async with t.session() as session:
        total = await repo.orders.count_orders(session, t.chat_id, **where)
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(page, 0), pages - 1)
        orders = await repo.orders.list_orders(session, t.chat_id, page * PAGE_SIZE, PAGE_SIZE, **where)
    if orders and not names:  # an unlinked account's orders beside the linked one's: name them too
        names = await names_if_several(t, {o.account_id for o in orders})
    new_order = (t._("🛒 New order"), "m:order")
    filtered = flt != "a" or account_id != 0
    if not orders:
        empty = t._("No orders match this filter.") if filtered else t._("No orders yet.")
        await t.show(
            esc(empty), [*(_filter_rows(t, flt, account_id, names) if filtered else []), [new_order]]
        )
        return
    head = t._("page {page} of {pages}, {total} in all", page=page + 1, pages=pages, total=total)
    title = esc(t._("Orders"))  # outside the f-string: Babel does not see calls inside f-strings on 3.11
    if filtered:
        shown = [t._(FILTERS[flt][1])] if flt != "a" else []
        shown += [names[account_id]] if account_id in names else []
        title += " · " + esc(" · ".join(shown))
    lines = [f"<b>{title}</b> · {esc(head)}", ""]
    lines += [order_line(t, order, names.get(order.account_id)) for order in orders]
    rows: list[list[Button]] = [[order_button(order)] for order in orders]
    nav: list[Button] = []
    if page > 0:
        nav.append((t._("◀️ Newer"), f"o:list:{page - 1}:{flt}:{account_id}"))
    if page < pages - 1:
        nav.append((t._("Older ▶️"), f"o:list:{page + 1}:{flt}:{account_id}"))
    rows += [nav, *_filter_rows(t, flt, account_id, names), [new_order]]
    await t.show("\n".join(lines), rows)


async def orders_command(update: Update, context: Context) -> None:
    await show_list(await turn(update, context), 0)


async def show_order(t: Turn, order_id: int) -> None:
    result = await actions.load_order(t.deps.sessions, order_id, t.chat_id)
    if result.order is None:
        await t.answer(acting.notice(t, result, "show")[: acting.ALERT_LIMIT], alert=True)
        return
    await acting.show_card(t, result)
    await t.answer()


async def refresh_order(t: Turn, order_id: int) -> None:
    if await must_wait(t, "order_refresh"):
        return
    result = await actions.refresh(t.deps.sessions, t.deps.panels, order_id, t.chat_id)
    await acting.report(t, result, "refresh", quiet_ok=True)


async def on_button(update: Update, context: Context) -> None:
    t = await turn(update, context)
    parts = parse_callback(t.query.data if t.query else None)
    action, arg = parts[1] if len(parts) > 1 else "", int_arg(parts, 2, -1)
    if action == "list":
        flt = parts[3] if len(parts) > 3 else "a"
        await show_list(t, max(arg, 0), flt, int_arg(parts, 4, 0))
        await t.answer()
        return
    if arg <= 0:  # malformed: treat like an order that is gone
        await t.answer(acting.notice(t, actions.Result(Kind.not_found), "show"), alert=True)
        return
    steps = {
        "show": show_order,
        "ref": refresh_order,
        "fill": acting.refill_button,
        "cxl": acting.cancel_ask,
        "cxy": acting.cancel_confirmed,
    }
    await steps[action](t, arg)


def register(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    application.add_handler(CommandHandler("orders", orders_command))
    application.add_handler(CommandHandler("status", acting.status_command))
    application.add_handler(CommandHandler("refill", acting.refill_command))
    application.add_handler(CallbackQueryHandler(on_button, pattern=CALLBACKS))

"""The chat's orders: `/orders` and its pages, the order card, and the card's buttons (callback data scheme in
handlers/cards.py). Refill, cancel, `/status` and `/refill` live in handlers/order_actions.py; this module
registers them all.

In groups everyone sees the orders and may refresh them; refill and cancel check `may_order` on every press.
"""

from __future__ import annotations

from typing import Any

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import order_actions as actions
from bot.order_actions import Kind
from handlers import order_actions as acting
from handlers.cards import status_mark, status_text
from handlers.common import Button, Context, Turn, esc, int_arg, money, parse_callback, turn
from storage import repo
from storage.models import Order

PAGE_SIZE = 8
NAME_WIDTH = 40  # characters of the service name in a list line
LABEL_WIDTH = 28  # ... and on a button
CALLBACKS = r"^o:(list|show|ref|fill|cxl|cxy)(:|$)"


def clip_name(name: str, width: int) -> str:
    name = " ".join((name or "").split())
    return name if len(name) <= width else name[: width - 1].rstrip() + "…"


def order_line(t: Turn, order: Order) -> str:
    ident = f"<code>#{order.panel_order_id}</code>" if order.panel_order_id else "—"
    quantity = order.quantity if order.quantity is not None else "—"
    price = money(order.charge if order.charge is not None else order.price, order.currency)
    name = esc(clip_name(order.service_name, NAME_WIDTH))
    return f"{status_mark(order)} {ident} {name} · {quantity} · {price} · {status_text(t._, order)}"


def order_button(order: Order) -> Button:
    ident = f"#{order.panel_order_id} " if order.panel_order_id else ""
    return (f"{status_mark(order)} {ident}{clip_name(order.service_name, LABEL_WIDTH)}", f"o:show:{order.id}")


async def show_list(t: Turn, page: int) -> None:
    """One page of the chat's orders, newest first; a stale page number shows the nearest page."""
    async with t.session() as session:
        total = await repo.orders.count_orders(session, t.chat_id)
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(page, 0), pages - 1)
        orders = await repo.orders.list_orders(session, t.chat_id, page * PAGE_SIZE, PAGE_SIZE)
    new_order = (t._("🛒 New order"), "m:order")
    if not orders:
        await t.show(esc(t._("No orders yet.")), [[new_order]])
        return
    head = t._("page {page} of {pages}, {total} in all", page=page + 1, pages=pages, total=total)
    lines = [f"<b>{esc(t._('Orders'))}</b> · {esc(head)}", ""]
    lines += [order_line(t, order) for order in orders]
    rows: list[list[Button]] = [[order_button(order)] for order in orders]
    nav: list[Button] = []
    if page > 0:
        nav.append((t._("◀️ Newer"), f"o:list:{page - 1}"))
    if page < pages - 1:
        nav.append((t._("Older ▶️"), f"o:list:{page + 1}"))
    rows += [nav, [new_order]]
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
    result = await actions.refresh(t.deps.sessions, t.deps.panels, order_id, t.chat_id)
    await acting.report(t, result, "refresh", quiet_ok=True)


async def on_button(update: Update, context: Context) -> None:
    t = await turn(update, context)
    parts = parse_callback(t.query.data if t.query else None)
    action, arg = parts[1] if len(parts) > 1 else "", int_arg(parts, 2, -1)
    if action == "list":
        await show_list(t, max(arg, 0))
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

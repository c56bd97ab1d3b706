"""How a service and an order look in a chat; shared by the catalog, the order wizard and the order list.

Callback data of the buttons built here (each flow's module handles its own prefix):
  ord:new:<service id>[:<account id>]   start the order wizard for a service of that account
                                        (without one: the chat's default account)   (handlers/order.py)
  fav:<service id>:<account id>   star / unstar the service                   (handlers/catalog.py)
  cmp:<service id>:<account id>   the same kind of service on the other linked panels  (handlers/compare.py)
  o:show:<order id>           the order card                              (handlers/orders.py)
  o:ref:<order id>            refresh its status from the panel           (handlers/orders.py)
  o:fill:<order id>           request a refill                            (handlers/orders.py)
  o:cxl:<order id>            cancel the order at the panel               (handlers/orders.py)
  o:again:<order id>          the wizard pre-filled from this order       (handlers/order.py)
  o:list:<page>[:<filter>:<account id or 0>]   the chat's orders, filtered   (handlers/orders.py)
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.formatting import NAME_IN_CARD, NAME_IN_LIST, name_in, plain_description, progress_bar, shorten
from bot.i18n import Translator, status_name
from bot.panel import Service, normalize_status
from handlers.common import Button, esc, money
from storage.models import Order, Placement, Refill

STATUS_MARKS = {
    "pending": "🕓",
    "in progress": "⏳",
    "processing": "⏳",
    "completed": "✅",
    "partial": "◐",
    "canceled": "✖️",
    "refunded": "↩️",
    "failed": "⛔",
    "rejected": "⛔",
}
PLACEMENT_MARKS = {
    Placement.drafted: "📝",
    Placement.sending: "📤",
    Placement.unclear: "❓",
    Placement.rejected: "⛔",
}


def status_mark(order: Order) -> str:
    if order.placement != Placement.placed:
        return PLACEMENT_MARKS.get(Placement(order.placement), "•")
    return STATUS_MARKS.get(normalize_status(order.status or "pending").lower(), "•")


def status_text(_: Translator, order: Order) -> str:
    """The order's state in words: the panel's status once placed, else where placement stands."""
    if order.placement == Placement.placed:
        return name_in(status_name(_, order.status), NAME_IN_LIST)
    return {
        Placement.drafted: _("Not confirmed"),
        Placement.sending: _("Sending to the panel…"),
        Placement.unclear: _("Unclear: the panel did not answer"),
        Placement.rejected: _("Rejected by the panel"),
    }[Placement(order.placement)]


def yes_no(_: Translator, flag: bool) -> str:
    return _("yes") if flag else _("no")


def service_line(service: Service, currency: str | None = None) -> str:
    """One line in a list: id, name, rate per 1000."""
    return f"<code>{service.id}</code> {name_in(service.name)} — {money(service.rate, currency)}"


def service_card(_: Translator, service: Service, currency: str | None = None) -> str:
    lines = [
        f"<b>{name_in(service.name, NAME_IN_CARD)}</b>",
        _("Service ID: {id}", id=f"<code>{service.id}</code>"),
        _("Category: {category}", category=name_in(service.category or "—", NAME_IN_CARD // 2)),
        _("Type: {type}", type=name_in(service.type, NAME_IN_LIST)),
        _("Rate per 1000: {rate}", rate=money(service.rate, currency)),
        _(
            "Min: {min} · Max: {max}",
            min=service.min if service.min is not None else "—",
            max=service.max if service.max is not None else "—",
        ),
        _(
            "Refill: {refill} · Cancel: {cancel} · Drip-feed: {dripfeed}",
            refill=yes_no(_, service.refill),
            cancel=yes_no(_, service.cancel),
            dripfeed=yes_no(_, service.dripfeed),
        ),
    ]
    if service.average_time:
        lines.append(_("Average time: {time}", time=name_in(service.average_time, NAME_IN_LIST)))
    if service.description:
        lines += ["", esc(plain_description(service.description))]
    return "\n".join(lines)


def order_card(
    _: Translator, order: Order, refills: Sequence[Refill] = (), account_name: str | None = None
) -> tuple[str, list[list[Button]]]:
    """The order's card and its buttons (what the user can do with it now). `account_name`: the panel
    account's name, shown when the chat has several."""
    title = _("Order {id}", id=f"#{order.panel_order_id}" if order.panel_order_id else f"({order.id})")
    lines = [
        f"{status_mark(order)} <b>{title}</b> — {status_text(_, order)}",
        f"{name_in(order.service_name, NAME_IN_CARD)} (<code>{order.service_id}</code>)",
    ]
    if account_name:
        lines.append(_("Panel: {name}", name=f"<b>{name_in(account_name)}</b>"))
    if order.link:
        lines.append(_("Link: {link}", link=esc(shorten(order.link, NAME_IN_CARD))))
    if order.quantity is not None:
        lines.append(_("Quantity: {quantity}", quantity=order.quantity))
    lines.append(
        _(
            "Price: {price}",
            price=money(order.charge if order.charge is not None else order.price, order.currency),
        )
    )
    if order.start_count is not None:
        lines.append(_("Start count: {count}", count=order.start_count))
    if order.remains is not None and order.placement == Placement.placed:
        lines.append(_("Remains: {remains}", remains=order.remains))
        bar = progress_bar(order.quantity, order.remains)
        if bar:
            lines.append(f"<code>{bar}</code>")
    if order.error:
        lines.append(_("Panel says: {error}", error=esc(shorten(order.error, NAME_IN_CARD))))
    if order.placement == Placement.unclear:
        lines.append(
            _(
                "The panel may or may not have taken this order. Check the panel's order list "
                "before ordering again."
            )
        )
    for refill in refills:
        refill_state = (
            name_in(status_name(_, refill.status), NAME_IN_LIST)
            if refill.status
            else {
                Placement.sending: _("sending"),
                Placement.unclear: _("unclear"),
                Placement.rejected: _("rejected"),
                Placement.placed: _("Pending"),
                Placement.drafted: "…",
            }[Placement(refill.placement)]
        )
        if refill.panel_refill_id:
            lines.append(_("Refill #{ref}: {status}", ref=refill.panel_refill_id, status=refill_state))
        else:
            lines.append(_("Refill: {status}", status=refill_state))
        if refill.error:
            lines.append("  " + esc(shorten(refill.error, NAME_IN_CARD)))

    rows: list[list[Button]] = []
    oid = order.id
    if order.placement == Placement.placed:
        actions: list[Button] = [(_("🔄 Refresh"), f"o:ref:{oid}")]
        final = normalize_status(order.status or "").lower() in {"completed", "partial"}
        if order.refill_allowed and final:
            actions.append((_("♻️ Refill"), f"o:fill:{oid}"))
        if (
            order.cancel_allowed
            and not final
            and order.cancel_requested_at is None  # one cancel per order
            and (order.status or "").lower() not in {"canceled", "cancelled"}
        ):
            actions.append((_("✖️ Cancel order"), f"o:cxl:{oid}"))
        rows.append(actions)
    rows.append([(_("🔁 Order again"), f"o:again:{oid}"), (_("📋 Orders"), "o:list:0")])
    return "\n".join(lines), rows

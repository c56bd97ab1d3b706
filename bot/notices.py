"""The texts and buttons of unasked messages (status changes, refills, stuck orders, low balance), rendered
for the outbox in the chat's language. No Telegram here: buttons are the JSON rows stored in Outbox.buttons.

Callback data used (handled by handlers/orders.py, handlers/balance.py; see handlers/cards.py):
  o:show:<order id>   o:ref:<order id>   o:fill:<order id>   o:cxl:<order id>   bal:show
Everything that came from a panel or a user is HTML-escaped (the delivery sends with parse mode HTML).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from bot.formatting import NAME_IN_LIST, esc, format_money, name_in, progress_bar, shorten
from bot.i18n import Translator, status_name, translator
from bot.panel import normalize_status
from storage.models import Account, Chat, Order, Refill

Buttons = list[list[dict[str, str]]]

NAME_MAX = 200  # a service name or link cut to this many characters keeps every notice far below 4096
LINK_MAX = 500
REFILLABLE = frozenset({"Completed", "Partial"})


@dataclass
class Notice:
    text: str
    buttons: Buttons = field(default_factory=list)


def _cut(text: str, limit: int) -> str:
    return shorten(text, limit)


def chat_translator(chat: Chat | None) -> Translator:
    """The chat's language, English when it has none."""
    return translator(chat.language if chat is not None else None)


def shown_status(_: Translator, status: str | None) -> str:
    """The status in the reader's language (a never-read status counts as Pending), escaped."""
    return name_in(status_name(_, status), NAME_IN_LIST)


def order_ref(order: Order) -> str:
    return f"#{order.panel_order_id}" if order.panel_order_id else f"({order.id})"


def _details(_: Translator, order: Order, account: str | None = None) -> list[str]:
    lines = [esc(_cut(order.service_name or f"#{order.service_id}", NAME_MAX))]
    if account:  # the chat has several panels (or named this one): say which
        lines.append(_("Panel: {name}", name=name_in(account)))
    if order.link:
        lines.append(_("Link: {link}", link=esc(_cut(order.link, LINK_MAX))))
    counts = []
    if order.start_count is not None:
        counts.append(_("Start count: {count}", count=order.start_count))
    if order.remains is not None:
        counts.append(_("Remains: {remains}", remains=order.remains))
    if counts:
        lines.append(" · ".join(counts))
    bar = progress_bar(order.quantity, order.remains)
    if bar:
        lines.append(f"<code>{bar}</code>")
    return lines


def _show_button(_: Translator, order: Order) -> dict[str, str]:
    return {"text": _("📄 Details"), "callback_data": f"o:show:{order.id}"}


def order_changed(
    chat: Chat | None, order: Order, old_status: str | None, account: str | None = None
) -> Notice:
    """ "📦 Order #23501: In progress → Completed", with the order's service, link and counts as stored."""
    _ = chat_translator(chat)
    head = _(
        "📦 Order {order}: {old} → {new}",
        order=order_ref(order),
        old=shown_status(_, old_status),
        new=f"<b>{shown_status(_, order.status)}</b>",
    )
    row = [_show_button(_, order)]
    if order.refill_allowed and normalize_status(order.status or "") in REFILLABLE:
        row.append({"text": _("♻️ Refill"), "callback_data": f"o:fill:{order.id}"})
    return Notice("\n".join([head, *_details(_, order, account)]), [row])


def order_gone(chat: Chat | None, order: Order, panel_text: str | None, account: str | None = None) -> Notice:
    """The panel answers "Incorrect order ID" for an order it took long ago."""
    _ = chat_translator(chat)
    lines = [
        _("❓ Order {order}: the panel no longer knows this order.", order=order_ref(order)),
        *_details(_, order, account),
    ]
    if panel_text:
        lines.append(_("Panel says: {error}", error=esc(_cut(panel_text, NAME_MAX))))
    lines.append(_("Check it in the panel's order list. The bot keeps looking, less often."))
    return Notice("\n".join(lines), [[_show_button(_, order)]])


def order_stuck(chat: Chat | None, order: Order, quiet_for: timedelta, account: str | None = None) -> Notice:
    """No progress for a long time: offer a refresh and, where the service allows it, cancelling."""
    _ = chat_translator(chat)
    hours = max(1, int(quiet_for.total_seconds() // 3600))
    status = shown_status(_, order.status)  # outside the call: Babel's extractor loses plurals otherwise
    head = _.ngettext(
        "🐢 Order {order} looks stuck: no progress for {n} hour ({status}).",
        "🐢 Order {order} looks stuck: no progress for {n} hours ({status}).",
        hours,
        order=order_ref(order),
        status=status,
    )
    row = [{"text": _("🔄 Refresh"), "callback_data": f"o:ref:{order.id}"}]
    if order.cancel_allowed:
        row.append({"text": _("✖️ Cancel order"), "callback_data": f"o:cxl:{order.id}"})
    return Notice("\n".join([head, *_details(_, order, account)]), [row])


def refill_changed(chat: Chat | None, refill: Refill, order: Order, old_status: str | None) -> Notice:
    _ = chat_translator(chat)
    ref = f"#{refill.panel_refill_id}" if refill.panel_refill_id else f"({refill.id})"
    head = _(
        "♻️ Refill {refill} of order {order}: {old} → {new}",
        refill=ref,
        order=order_ref(order),
        old=shown_status(_, old_status),
        new=f"<b>{shown_status(_, refill.status)}</b>",
    )
    lines = [head, esc(_cut(order.service_name or f"#{order.service_id}", NAME_MAX))]
    if order.link:
        lines.append(_("Link: {link}", link=esc(_cut(order.link, LINK_MAX))))
    return Notice("\n".join(lines), [[_show_button(_, order)]])


def low_balance(chat: Chat, low: list[Account], host_of: dict[int, str] | None = None) -> Notice:
    """⚠️ Low balance: 3.20 USD (under your 5.00 USD alert) — one line per account under the threshold;
    with several accounts each line names its panel."""
    _ = chat_translator(chat)
    lines = []
    for account in low:
        line = _(
            "⚠️ Low balance: {amount} (under your {threshold} alert)",
            amount=f"<b>{format_money(account.last_balance, account.currency)}</b>",
            threshold=format_money(chat.low_balance_threshold, account.currency),
        )
        host = (host_of or {}).get(account.id or 0)
        lines.append(f"{line} — <code>{name_in(host)}</code>" if host else line)
    return Notice("\n".join(lines), [[{"text": _("💰 Balance"), "callback_data": "bal:show"}]])


def order_placed(chat: Chat | None, order: Order, account: str | None = None) -> Notice:
    """An order placed from the Mini App, told in the chat as the chat's own Confirm tells it."""
    _ = chat_translator(chat)
    price = order.charge if order.charge is not None else order.price
    lines = [
        _("✅ Order placed."),
        "",
        _("🕓 Order {order} — {status}", order=order_ref(order), status=shown_status(_, order.status)),
        *_details(_, order, account),
    ]
    if order.quantity is not None:
        lines.append(_("Quantity: {quantity}", quantity=order.quantity))
    lines.append(_("Price: {price}", price=format_money(price, order.currency)))
    row = [_show_button(_, order), {"text": _("🔄 Refresh"), "callback_data": f"o:ref:{order.id}"}]
    return Notice("\n".join(lines), [row])

"""The words of the Mini App: the page's labels (sent to the page by /api/me) and the outcomes of actions.

Outcome messages reuse the chat's English msgids (handlers/order_actions.py), so they share their
translations; what is new here is translated in bot/locales/tr/LC_MESSAGES/messages.po like the rest.
"""

from __future__ import annotations

from bot.i18n import Translator, lazy, status_name
from bot.order_requests import Kind, Result

PAGE = {
    "catalog": lazy("Catalog"),
    "orders": lazy("Orders"),
    "search": lazy("Search by name, id or category"),
    "sort": lazy("Sort"),
    "sort_panel": lazy("Panel order"),
    "sort_price_up": lazy("Price: low to high"),
    "sort_price_down": lazy("Price: high to low"),
    "favourite": lazy("Favourite"),
    "refill": lazy("Refill"),
    "cancel": lazy("Cancel"),
    "dripfeed": lazy("Drip-feed"),
    "per_1000": lazy("per 1000"),
    "min_max": lazy("Min {min} · Max {max}"),
    "shown": lazy("{shown} of {total} services"),
    "no_match": lazy("No service matches."),
    "price": lazy("Price"),
    "balance": lazy("Balance"),
    "after": lazy("After this order"),
    "review": lazy("Review"),
    "confirm": lazy("✅ Confirm"),
    "edit": lazy("✏️ Edit"),
    "sending": lazy("Sending…"),
    "skip_hint": lazy("optional"),
    "lines_hint": lazy("one per line"),
    "all_statuses": lazy("All"),
    "active": lazy("Active"),
    "completed": lazy("Completed"),
    "problems": lazy("Problems"),
    "all_accounts": lazy("All panels"),
    "start_count": lazy("Start count"),
    "delivered": lazy("Delivered"),
    "refresh": lazy("🔄 Refresh"),
    "refill_button": lazy("♻️ Refill"),
    "cancel_button": lazy("✖️ Cancel order"),
    "spend": lazy("Spend per day, last 30 days"),
    "no_orders": lazy("No orders yet."),
    "no_account": lazy("No panel is linked to this chat yet."),
    "more": lazy("More"),
    "back": lazy("Back"),
}


def page_texts(_: Translator) -> dict[str, str]:
    return {key: _(msgid) for key, msgid in PAGE.items()}


def action_notice(_: Translator, result: Result, action: str) -> str:
    """What came of refresh / refill / cancel, in the reader's language (plain text: the page uses
    textContent)."""
    kind, reason = result.kind, (result.reason or "")[:200]
    order = result.order
    if kind == Kind.ok:
        return {
            "refill": _("♻️ Refill {ref} requested at the panel.", ref="").replace("  ", " "),
            "cancel": _("Cancellation requested."),
        }.get(action, _("Status updated."))
    fixed = {
        Kind.not_found: _(
            "This order is not in this chat's list (any more). Open /orders for the current list."
        ),
        Kind.not_placed: _(
            "This order was not placed at the panel, so there is nothing to do with it there."
        ),
        Kind.account_gone: _("This order's panel account is no longer linked to this chat."),
        Kind.no_refill: _("This service has no refill."),
        Kind.refill_open: _("A refill of this order is already in progress."),
        Kind.no_cancel: _("This service does not allow cancelling orders."),
        Kind.invalid_key: _(
            "The panel refused this chat's API key. An admin can link it again with /connect."
        ),
        Kind.unreachable: _("The panel is not reachable right now and nothing was sent. Try again later."),
    }
    if kind in fixed:
        return fixed[kind]
    if kind == Kind.not_completed:
        return _(
            "A refill can be requested once the order is Completed or Partial (now: {status}).",
            status=status_name(_, order.status if order else None),
        )
    if kind == Kind.final:
        status = status_name(_, order.status) if order and order.status else ""
        return _("This order has already ended ({status}); it cannot be cancelled.", status=status)
    if kind == Kind.unclear:
        return _("We could not tell whether the panel took the cancellation; check the panel.")
    if action == "refill":
        return _("The panel refused the refill: {reason}", reason=reason)
    if action == "cancel":
        return _("The panel did not cancel the order: {reason}", reason=reason or "—")
    return _("The panel answered: {reason}", reason=reason)

"""Acting on placed orders from the chat: refill, cancel (with confirmation), `/status <ids>`, `/refill <id>`,
and the words for every outcome. The list, the card and the refresh button are in handlers/orders.py, which
registers these handlers too. The domain work is in bot/order_actions.py.
"""

from __future__ import annotations

from telegram import Update

from bot import order_requests as actions
from bot.formatting import NAME_IN_CARD, NAME_IN_LIST, fit_html, name_in, utf16_len
from bot.order_requests import Kind, Result
from bot.panel import InvalidKey, NotFound, PanelError, PanelUnavailable, RateLimited, normalize_status
from handlers.accounts import name_of
from handlers.cards import STATUS_MARKS, order_card, status_name
from handlers.common import (
    MAX_MESSAGE,
    Context,
    Turn,
    command_args,
    esc,
    may_manage,
    may_order,
    money,
    refuse,
    turn,
)
from handlers.limits import must_wait
from storage.models import Order, Placement, Refill, is_final_refill_status

ALERT_LIMIT = 200  # Telegram's limit for a callback answer's text
REASON_LIMIT = 140


def order_ref(order: Order | None) -> str:
    if order is None:
        return ""
    return f"#{order.panel_order_id}" if order.panel_order_id else f"({order.id})"


def as_of(order: Order) -> str:
    return order.updated_at.strftime("%Y-%m-%d %H:%M UTC")


def notice(t: Turn, result: Result, action: str) -> str:
    """What came of `action` ("refresh", "refill", "cancel"), in plain text (escape it for a card)."""
    _ = t._
    order, reason = result.order, (result.reason or "")[:REASON_LIMIT]
    kind = result.kind
    if kind == Kind.ok:
        if action == "refill":
            ref = (
                f"#{result.refill.panel_refill_id}" if result.refill and result.refill.panel_refill_id else ""
            )
            return _("♻️ Refill {ref} requested at the panel.", ref=ref).replace("  ", " ")
        if action == "cancel":
            return _("Cancellation requested.")
        return _("Status updated.")
    if kind == Kind.not_found:
        return _("This order is not in this chat's list (any more). Open /orders for the current list.")
    if kind == Kind.not_placed:
        return _("This order was not placed at the panel, so there is nothing to do with it there.")
    if kind == Kind.account_gone:
        return _("This order's panel account is no longer linked to this chat.")
    if kind == Kind.no_refill:
        return _("This service has no refill.")
    if kind == Kind.not_completed:
        status = status_name(_, order.status if order else None)
        return _(
            "A refill can be requested once the order is Completed or Partial (now: {status}).",
            status=status,
        )
    if kind == Kind.refill_open:
        return _("A refill of this order is already in progress.")
    if kind == Kind.no_cancel:
        return _("This service does not allow cancelling orders.")
    if kind == Kind.cancel_requested:
        return _("Cancel already requested for this order: the panel is working on it.")
    if kind == Kind.final:
        status = status_name(_, order.status) if order and order.status else ""
        return _("This order has already ended ({status}); it cannot be cancelled.", status=status)
    if kind == Kind.invalid_key:
        return _("The panel refused this chat's API key. An admin can link it again with /connect.")
    if kind == Kind.panel_unknown:
        return _("The panel does not know order {ref} (yet). Try again in a minute.", ref=order_ref(order))
    if kind == Kind.unclear:
        if action == "refill":
            return _(
                "We could not tell whether the panel took the refill request; check the panel. "
                "It will not be sent again by itself."
            )
        return _("We could not tell whether the panel took the cancellation; check the panel.")
    if kind == Kind.unreachable:
        if action == "refresh" and order is not None:
            return _(
                "The panel is unreachable; showing the last known status (as of {time}).", time=as_of(order)
            )
        return _("The panel is not reachable right now and nothing was sent. Try again later.")
    # Kind.rejected: the panel said no
    if action == "refill":
        return _("The panel refused the refill: {reason}", reason=reason)
    if action == "cancel":
        return _("The panel did not cancel the order: {reason}", reason=reason or "—")
    return _("The panel answered: {reason}", reason=reason)


async def show_card(t: Turn, result: Result, note: str | None = None, *, edit: bool = True) -> None:
    """The order's card, with a line about what just happened."""
    assert result.order is not None
    text, rows = order_card(t._, result.order, result.refills, await name_of(t, result.order.account_id))
    if any(_open(refill) for refill in result.refills):  # a new request would only be refused
        rows = [[b for b in row if not b[1].startswith("o:fill:")] for row in rows]
    if note:
        text += f"\n\n<i>{esc(note)}</i>"
    await t.show(text, rows, edit=edit)


def _open(refill: Refill) -> bool:
    if refill.placement == Placement.sending:
        return True
    return refill.placement == Placement.placed and not is_final_refill_status(refill.status)


async def report(t: Turn, result: Result, action: str, *, quiet_ok: bool = False) -> None:
    """Show the card (edited in place for a button) and answer the button: a toast when it went well, an
    alert otherwise. Without an order to show (stale button) only the alert."""
    note = notice(t, result, action)
    ok = result.kind == Kind.ok
    if result.order is not None:
        await show_card(t, result, None if ok and quiet_ok else note, edit=t.query is not None)
    elif t.query is None and t.update.effective_message is not None:
        await t.update.effective_message.reply_text(esc(note))
    await t.answer(note[:ALERT_LIMIT], alert=not ok)


# ---------------------------------------------------------------------------------------------- refill


async def refill_button(t: Turn, order_id: int) -> None:
    if not await may_order(t):
        await refuse(t)
        return
    d = t.deps
    result = await actions.request_refill(d.sessions, d.panels, order_id, t.chat_id, t.user_id)
    await report(t, result, "refill")


async def refill_command(update: Update, context: Context) -> None:
    t = await turn(update, context)
    message = t.update.effective_message
    assert message is not None
    ids, ignored = actions.parse_order_ids(command_args(context))
    if len(ids) != 1 or ignored:
        await message.reply_text(esc(t._("Usage: /refill <order id> (the panel's order number).")))
        return
    if not await may_order(t):
        await refuse(t)
        return
    order = await actions.find_by_panel_id(t.deps.sessions, t.chat_id, ids[0])
    if order is None or order.id is None:
        await message.reply_text(
            esc(
                t._(
                    "I don't know order {id} in this chat. Refills are requested only for orders placed "
                    "through this bot, so that they can be tracked.",
                    id=ids[0],
                )
            )
        )
        return
    d = t.deps
    result = await actions.request_refill(d.sessions, d.panels, order.id, t.chat_id, t.user_id)
    await report(t, result, "refill")


# ---------------------------------------------------------------------------------------------- cancel


async def cancel_ask(t: Turn, order_id: int) -> None:
    if not await may_order(t):
        await refuse(t)
        return
    checked = await actions.check_cancel(t.deps.sessions, order_id, t.chat_id)
    if checked.kind != Kind.ok or checked.order is None:
        await t.answer(notice(t, checked, "cancel")[:ALERT_LIMIT], alert=True)
        return
    order = checked.order
    quantity = order.quantity if order.quantity is not None else "—"
    text = "\n".join(
        [
            t._("Cancel order {ref} at the panel?", ref=order_ref(order)),
            f"{name_in(order.service_name, NAME_IN_CARD)} · {quantity}",
        ]
    )
    await t.show(text, [[(t._("Yes, cancel it"), f"o:cxy:{order_id}"), (t._("No"), f"o:show:{order_id}")]])
    await t.answer()


async def cancel_confirmed(t: Turn, order_id: int) -> None:
    if not await may_order(t):
        await refuse(t)
        return
    result = await actions.cancel(t.deps.sessions, t.deps.panels, order_id, t.chat_id)
    await report(t, result, "cancel")


# ---------------------------------------------------------------------------------------------- /status


def _status_line(t: Turn, line: actions.IdStatus) -> str:
    _ = t._
    ident = f"<code>{line.panel_order_id}</code>"
    if line.withheld:
        elsewhere = esc(_("not an order of this group"))
        return f"⛔ {ident} {elsewhere}"
    if line.status is None:
        error = line.error
        if isinstance(error, NotFound):
            missing = esc(_("not found"))  # outside the f-string, where Babel can extract it
            return f"⛔ {ident} {missing}"
        text = actions.panel_reason(error) if error is not None else _("no answer")
        return f"⚠️ {ident} {esc(text[:REASON_LIMIT])}"
    st = line.status
    mark = STATUS_MARKS.get(normalize_status(st.status).lower(), "•")
    parts = [f"{mark} {ident} <b>{name_in(status_name(_, st.status), NAME_IN_LIST)}</b>"]
    if st.remains is not None:
        parts.append(_("remains {n}", n=st.remains))
    if st.start_count is not None:
        parts.append(_("start {n}", n=st.start_count))
    if st.charge is not None:
        currency = st.currency or (line.order.currency if line.order else None)
        parts.append(_("charge {amount}", amount=money(st.charge, currency)))
    if line.order is None:
        foreign = esc(_("not placed through this bot"))
        parts.append(f"<i>{foreign}</i>")
    return " · ".join(parts)


def _whole_failure(t: Turn, lines: list[actions.IdStatus]) -> str | None:
    """When the one call failed as a whole (every id has the same error), say so once."""
    errors = {id(line.error) for line in lines}
    first = lines[0].error if lines else None
    if len(errors) != 1 or first is None or (len(lines) == 1 and isinstance(first, NotFound)):
        return None
    if isinstance(first, InvalidKey):
        return t._("The panel refused this chat's API key. An admin can link it again with /connect.")
    if isinstance(first, (PanelUnavailable, RateLimited)):
        return t._("The panel is not reachable right now. Try again in a moment.")
    if isinstance(first, PanelError) and not isinstance(first, NotFound):
        return t._("The panel answered: {reason}", reason=actions.panel_reason(first)[:REASON_LIMIT])
    return None


async def status_command(update: Update, context: Context) -> None:
    t = await turn(update, context)
    message = t.update.effective_message
    assert message is not None
    ids, ignored = actions.parse_order_ids(command_args(context))
    if not ids:
        text = t._(
            "Usage: /status <order id> [order id …] — up to {n} panel order ids, separated by spaces or "
            "commas.",
            n=actions.MAX_STATUS_IDS,
        )
        if ignored:
            text += "\n" + t._("Not order ids: {tokens}", tokens=", ".join(ignored[:20]))
        await message.reply_text(esc(text))
        return
    if len(ids) > actions.MAX_STATUS_IDS:
        await message.reply_text(
            esc(
                t._("At most {n} ids at a time (you sent {count}).", n=actions.MAX_STATUS_IDS, count=len(ids))
            )
        )
        return
    account = await t.account()
    if account is None:
        await message.reply_text(esc(t._("No panel is linked to this chat yet. Link one with /connect.")))
        return
    if await must_wait(t, "status"):
        return
    # In a group, members see the group's own orders; admins (asked afresh) any id of the group's account.
    only_ours = not await may_manage(t)
    lines = await actions.lookup_statuses(
        t.deps.sessions, t.deps.panels, account, t.chat_id, ids, only_ours=only_ours
    )
    if lines and all(line.withheld for line in lines):
        text = t._(
            "Members can look up the orders placed in this group only; the group's admins can look up any "
            "order id of its panel."
        )
        await message.reply_text(esc(text))
        return
    failure = _whole_failure(t, lines)
    if failure is not None:
        await message.reply_text(esc(failure))
        return
    out = [_status_line(t, line) for line in lines]
    if ignored:
        shown = ", ".join(token[:30] for token in ignored[:20])
        out.append(esc(t._("Ignored (not order ids): {tokens}", tokens=shown)))
    for chunk in _chunks(out):
        await message.reply_text(chunk)


def _chunks(lines: list[str], limit: int = MAX_MESSAGE) -> list[str]:
    """Whole lines packed into messages under Telegram's limit (100 ids do not fit in one)."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = fit_html(line, limit)  # a line longer than a message: shortened, never cut inside a tag
        if current and utf16_len(current) + 1 + utf16_len(line) > limit:  # source >= what Telegram counts
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks

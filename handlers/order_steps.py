"""The order wizard's state, prompts and summary (the handlers that drive them are in handlers/order.py).

The wizard's answers live in the conversation data, flow_data("order_wizard")[<chat id>] (JSON only):
  svc    a snapshot of the service (id, name, type, rate as text, min, max, flags)
  acc    the account id            steps  the planned fields       i  the current step
  v      the answers so far        d      defaults (Edit, Order again)
  token  the confirm token of the stored draft, once the summary was shown
  an     the account's name when the chat has several accounts (else None)
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from bot import ordering
from bot.formatting import NAME_IN_CARD, name_in, shorten
from bot.i18n import Translator, lazy
from bot.order_form import LABELS, store_draft  # one set of labels and one draft for chat and Mini App
from bot.panel import (
    Balance,
    DuplicateActiveOrder,
    IncorrectLink,
    InvalidKey,
    NotEnoughFunds,
    PanelError,
    PanelUnavailable,
    QuantityOutOfRange,
    RateLimited,
    Service,
)
from handlers.accounts import names_if_several
from handlers.common import Button, Turn, ask_reply, esc, is_private, money
from handlers.flow import END, flow_data, remember_message
from storage import repo

SERVICE, FIELD, SUMMARY, ACCOUNT = range(4)

PROMPTS = {
    "link": lazy("Send the link to the page or post (starting with https://)."),
    "media": lazy("Send the link to the media whose likers are to be mentioned (starting with https://)."),
    "username": lazy("Send the username (e.g. @name)."),
    "quantity": lazy("Send the quantity: a whole number from {min} to {max}."),
    "comments": lazy("Send the comments, one per line."),
    "usernames": lazy("Send the usernames, one per line."),
    "hashtags": lazy("Send the hashtags, one per line."),
    "keywords": lazy("Send the keywords, one per line."),
    "groups": lazy("Send the groups, one per line."),
    "hashtag": lazy("Send the hashtag (e.g. #summer)."),
    "answer_number": lazy("Send the number of the poll answer to vote for (1, 2, …)."),
    "min": lazy("Send the minimum quantity per post: from {min} to {max}."),
    "max": lazy("Send the maximum quantity per post: from {low} to {max}."),
    "delay": lazy("Send the delay before delivery in minutes, or choose one."),
    "posts": lazy("How many new posts should it cover? Send a number, or skip for unlimited."),
    "old_posts": lazy("How many of the existing posts should it cover too? Send a number, or skip."),
    "expiry": lazy("Send an end date as day/month/year (e.g. 31/12/2030), or skip."),
    "runs": lazy(
        "Drip-feed: send the number of runs (the quantity is delivered on each run), or skip to order it "
        "in one go."
    ),
    "interval": lazy("Send the interval between runs, in minutes."),
    "country": lazy("Send the target country (e.g. US), or skip."),
}
PREVIEW_LINES = 5
PREVIEW_CHARS = 300


# ---------------------------------------------------------------------------------------------- draft


def snapshot(service: Service) -> dict[str, Any]:
    return {
        "id": service.id,
        "name": service.name,
        "type": service.type,
        "category": service.category,
        "rate": None if service.rate is None else str(service.rate),
        "min": service.min,
        "max": service.max,
        "refill": service.refill,
        "cancel": service.cancel,
        "dripfeed": service.dripfeed,
    }


def service_of(draft: dict[str, Any]) -> Service:
    s = draft["svc"]
    return Service(
        id=s["id"],
        name=s["name"],
        type=s["type"],
        category=s.get("category") or "",
        rate=None if s.get("rate") is None else Decimal(s["rate"]),
        min=s.get("min"),
        max=s.get("max"),
        refill=bool(s.get("refill")),
        cancel=bool(s.get("cancel")),
        dripfeed=bool(s.get("dripfeed")),
        description=None,
        average_time=None,
    )


def current_field(draft: dict[str, Any]) -> str | None:
    steps, i = draft["steps"], draft["i"]
    return steps[i] if 0 <= i < len(steps) else None


def advance(draft: dict[str, Any]) -> str | None:
    """Move to the next step that applies (from the current index); the field, or None at the end."""
    steps, values = draft["steps"], draft["v"]
    while draft["i"] < len(steps) and not ordering.applies(steps[draft["i"]], values):
        draft["i"] += 1
    return current_field(draft)


def first_missing(draft: dict[str, Any]) -> int:
    """The first required step without an answer (Order again with a service that changed)."""
    for i, field in enumerate(draft["steps"]):
        needed = not ordering.is_optional(field) and ordering.applies(field, draft["v"])
        if needed and draft["v"].get(field) in (None, "", []):
            return i
    return len(draft["steps"])


# ---------------------------------------------------------------------------------------------- prompts


def value_text(_: Translator, field: str, value: Any, *, preview: bool = True) -> str:
    if isinstance(value, list):
        count = _.ngettext("{n} line", "{n} lines", len(value))
        joined = "\n".join(value)
        if preview and len(value) <= PREVIEW_LINES and len(joined) <= PREVIEW_CHARS:
            return count + "\n" + "\n".join(f"  • {esc(shorten(v, NAME_IN_CARD))}" for v in value)
        return count
    return esc(shorten(value, NAME_IN_CARD))


def header(_: Translator, service: Service) -> str:
    return f"🛒 <b>{name_in(service.name, NAME_IN_CARD)}</b> (<code>{service.id}</code>)"


def prompt_text(_: Translator, draft: dict[str, Any], field: str, error: str | None = None) -> str:
    service = service_of(draft)
    lo, hi = ordering.count_range(service)
    shown = [s for s in draft["steps"] if ordering.applies(s, draft["v"]) or s == field]
    lines = [header(_, service)]
    if draft.get("an"):
        lines.append(_("Panel: {name}", name=f"<b>{name_in(draft['an'])}</b>"))
    if field in shown:
        lines.append(_("Step {n} of {total}", n=shown.index(field) + 1, total=len(shown)))
    lines.append("")
    if error:
        lines += [f"⚠️ {esc(shorten(error, NAME_IN_CARD))}", ""]
    low = draft["v"].get("min") or lo
    lines.append(_(PROMPTS.get(field, "{field}"), min=lo, max=hi or "∞", low=low, field=esc(field)))
    if ordering.quantity_from(service) == field:
        lines.append(_("The number of lines is the quantity: from {min} to {max}.", min=lo, max=hi or "∞"))
    default = draft.get("d", {}).get(field)
    if default not in (None, "", []):
        lines.append(_("Current: {value}", value=value_text(_, field, default, preview=False)))
    return "\n".join(lines)


def prompt_buttons(_: Translator, draft: dict[str, Any], field: str) -> list[list[Button]]:
    rows: list[list[Button]] = []
    if field == "delay":
        rows += [
            [(str(n), f"ord:v:{n}") for n in ordering.DELAY_CHOICES[:4]],
            [(str(n), f"ord:v:{n}") for n in ordering.DELAY_CHOICES[4:]],
        ]
    last: list[Button] = []
    if draft.get("d", {}).get(field) not in (None, "", []):
        last.append((_("↩️ Keep current"), "ord:keep"))
    if field == "runs":
        last.append((_("Skip (no drip-feed)"), "ord:skip"))
    elif ordering.is_optional(field):
        last.append((_("Skip"), "ord:skip"))
    last.append((_("✖️ Cancel"), "ord:x"))
    rows.append(last)
    return rows


def group_hint(_: Translator, draft: dict[str, Any], field: str) -> str:
    """Under privacy mode, buttons cannot come with a forced reply: the commands that replace them."""
    hints = [_("Reply to this message. /cancel stops.")]
    if ordering.is_optional(field):
        hints.append(_("/skip skips this step."))
    if draft.get("d", {}).get(field) not in (None, "", []):
        hints.append(_("/keep keeps the current value."))
    return " ".join(hints)


# ---------------------------------------------------------------------------------------------- summary


def summary_text(
    _: Translator,
    draft: dict[str, Any],
    price: Decimal | None,
    currency: str | None,
    balance: Balance | None,
    account_name: str | None = None,
) -> str:
    service = service_of(draft)
    values = draft["v"]
    lines = [
        _("🧾 <b>Order summary</b>"),
        _("Service: {name} (<code>{id}</code>)", name=name_in(service.name, NAME_IN_CARD), id=service.id),
    ]
    if account_name:
        lines.append(_("Panel: {name}", name=f"<b>{name_in(account_name)}</b>"))
    quantity = ordering.units(service, values)
    for field in draft["steps"]:
        value = values.get(field)
        if value in (None, "", []) or field in ("runs", "interval"):
            continue
        lines.append(f"{_(LABELS.get(field, field))}: {value_text(_, field, value)}")
    if ordering.quantity_from(service) and quantity is not None:
        lines.append(_("Quantity: {quantity}", quantity=quantity))
    runs, interval = values.get("runs"), values.get("interval")
    if runs:
        lines.append(
            _(
                "Drip-feed: {runs} runs × every {interval} min (total {total})",
                runs=runs,
                interval=interval,
                total=(quantity or 0) * int(runs),
            )
        )
    lines.append("")
    lines.append(_("Price: {price}", price=f"<b>{money(price, currency)}</b>" if price is not None else "—"))
    if balance is None:
        lines.append(_("Balance: {balance}", balance=_("unknown")))
    else:
        after = balance.amount - price if price is not None else None
        lines.append(
            _(
                "Balance: {balance} → {after} after this order",
                balance=money(balance.amount, currency),
                after=money(after, currency),
            )
        )
        if price is not None and balance.amount < price:
            lines += ["", _("⚠️ Not enough funds on the panel balance for this order.")]
    return "\n".join(lines)


def summary_buttons(_: Translator, token: str) -> list[list[Button]]:
    return [
        [(_("✅ Confirm"), f"ord:ok:{token}")],
        [(_("✏️ Edit"), "ord:edit"), (_("✖️ Cancel"), "ord:x")],
    ]


# ---------------------------------------------------------------------------------------------- result


def rejection_reason(_: Translator, exc: PanelError | None, service: Service | None) -> str:
    """The panel's refusal in the user's language where we know its kind; else the panel's own text."""
    if isinstance(exc, NotEnoughFunds):
        return _("Not enough funds on the panel balance")
    if isinstance(exc, QuantityOutOfRange):
        lo = exc.minimum if exc.minimum is not None else (service.min if service else None)
        hi = exc.maximum if exc.maximum is not None else (service.max if service else None)
        return _("Quantity must be between {min} and {max}", min=lo or "?", max=hi or "?")
    if isinstance(exc, DuplicateActiveOrder):
        return _("There is already an active order for this link; wait until it completes")
    if isinstance(exc, IncorrectLink):
        return _("The panel refused the link")
    if isinstance(exc, InvalidKey):
        return _(
            "The panel did not accept the API key (or it is no longer linked). Link it again with /connect."
        )
    if isinstance(exc, PanelUnavailable | RateLimited):
        return _("The panel is not reachable right now; nothing was sent. Please try again in a moment.")
    text = (exc.panel_message or exc.message) if exc is not None else "?"
    return _("The panel refused the order: {error}", error=esc(shorten(text, NAME_IN_CARD)))


UNCLEAR = lazy(
    "⚠️ We could not tell whether the panel took this order. Please check your panel's order list before "
    "ordering again."
)


# ---------------------------------------------------------------------------------------------- flow


def drafts() -> dict[str, Any]:
    return flow_data("order_wizard")


def current_draft(t: Turn) -> dict[str, Any] | None:
    """The wizard's answers (the conversation's deadline ends a wizard left alone, see handlers/flow.py)."""
    return drafts().get(str(t.chat_id))


async def forget(t: Turn) -> None:
    """Drop the wizard's answers and its unconfirmed draft row (its Confirm button stops working)."""
    draft = drafts().pop(str(t.chat_id), None)
    if draft and draft.get("token"):
        async with t.session() as session:
            await repo.orders.discard_draft(session, draft["token"], t.chat_id)
            await session.commit()


async def ask(t: Turn, text: str, buttons: list[list[Button]], hint: str, *, edit: bool = True) -> None:
    """A prompt: in place in a private chat; in a group a forced reply, so the answer reaches the bot."""
    if is_private(t.update):
        await t.show(text, buttons, edit=edit)
        return
    remember_message(await ask_reply(t, text, hint=hint))


async def prompt(t: Turn, draft: dict[str, Any], error: str | None = None, *, edit: bool = True) -> int:
    """Ask for the current step, or show the summary when every step is answered."""
    field = advance(draft)
    if field is None:
        return await show_summary(t, draft, edit=edit)
    text = prompt_text(t._, draft, field, error)
    hint = group_hint(t._, draft, field)
    await ask(t, text, prompt_buttons(t._, draft, field), hint, edit=edit)
    return FIELD


async def need_account(t: Turn) -> int:
    text = t._("Link your panel account first: you need its API key.")
    await t.show(text, [[(t._("🔗 Link a panel"), "acc:connect")]])
    return END


async def show_summary(t: Turn, draft: dict[str, Any], *, edit: bool = True) -> int:
    """Store the draft (its token goes into Confirm), then show the price and the balance."""
    async with t.session() as session:
        account = await repo.accounts.get_account(session, draft["acc"], t.chat_id)
    if account is None:
        drafts().pop(str(t.chat_id), None)
        return await need_account(t)
    service = service_of(draft)
    price = ordering.price_for(service, draft["v"])
    balance = await ordering.refresh_balance(t.deps.sessions, t.deps.panels, account)
    currency = (balance.currency if balance else None) or account.currency
    order = await store_draft(
        t.deps.sessions,
        account,
        service,
        draft["v"],
        chat_id=t.chat_id,
        user_id=t.user_id,
        currency=currency,
        replaces=draft.get("token"),
    )
    draft["token"] = order.confirm_token
    names = await names_if_several(t)
    text = summary_text(t._, draft, price, currency, balance, names.get(account.id or 0))
    shown = await t.show(text, summary_buttons(t._, order.confirm_token), edit=edit)
    remember_message(shown)
    return SUMMARY

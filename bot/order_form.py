"""The order wizard's rules as one form (the Mini App's order page): which fields, checked all at once.

No rules of their own here: the fields are `ordering.plan_steps`, each value goes through
`ordering.parse_value`, the price is `ordering.price_for`, and the draft row is the one the chat's summary
stores, so that Confirm goes through the same `ordering.place_order` (exactly once) as in the chat.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import ordering
from bot.i18n import Translator, lazy
from bot.panel import Service
from storage import repo
from storage.models import Account, Order

# Field labels, for the chat's order summary (handlers/order_steps.py) and the Mini App's form alike.
LABELS = {
    "link": lazy("Link"),
    "media": lazy("Media"),
    "username": lazy("Username"),
    "quantity": lazy("Quantity"),
    "comments": lazy("Comments"),
    "usernames": lazy("Usernames"),
    "hashtags": lazy("Hashtags"),
    "keywords": lazy("Keywords"),
    "groups": lazy("Groups"),
    "hashtag": lazy("Hashtag"),
    "answer_number": lazy("Answer number"),
    "min": lazy("Min per post"),
    "max": lazy("Max per post"),
    "delay": lazy("Delay (minutes)"),
    "posts": lazy("Posts"),
    "old_posts": lazy("Old posts"),
    "expiry": lazy("Ends"),
    "runs": lazy("Runs"),
    "interval": lazy("Interval (minutes)"),
    "country": lazy("Country"),
}
NUMBER_FIELDS = frozenset(
    {"quantity", "min", "max", "delay", "posts", "old_posts", "runs", "interval", "answer_number"}
)


def input_kind(name: str) -> str:
    """How the page shows a field: a hint for the input element, never a rule (the server checks)."""
    if name in ("link", "media"):
        return "url"
    if name in ordering.LIST_FIELDS:
        return "lines"
    if name in NUMBER_FIELDS:
        return "number"
    if name == "expiry":
        return "date"
    return "text"


def form_fields(_: Translator, service: Service) -> list[dict[str, Any]]:
    """The fields of the order form for this service, in the wizard's order, with the hints the page shows."""
    lo, hi = ordering.count_range(service)
    quantity_from = ordering.quantity_from(service)
    fields = []
    for name in ordering.plan_steps(service):
        item: dict[str, Any] = {
            "name": name,
            "label": _(LABELS.get(name, name)),
            "kind": input_kind(name),
            "optional": ordering.is_optional(name),
        }
        if name in ("quantity", "min", "max"):
            item.update(min=lo, max=hi)
        if name == quantity_from:
            item.update(min_lines=lo, max_lines=hi)
        if name == "runs":
            item.update(min=2, max=ordering.RUNS_MAX)
        if name == "interval":
            item.update(min=1, max=ordering.INTERVAL_MAX, needs="runs")
        if name == "delay":
            item["choices"] = list(ordering.DELAY_CHOICES)
        fields.append(item)
    return fields


@dataclass
class FormCheck:
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # field -> message in the reader's language
    price: Decimal | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


def check_form(_: Translator, service: Service, raw: dict[str, Any]) -> FormCheck:
    """Every planned field of `raw` (text as typed) through parse_value; empty optional ones are left out,
    an empty required one is an error; the price once every field is valid."""
    check = FormCheck()
    for name in ordering.plan_steps(service):
        if not ordering.applies(name, check.values):
            continue
        value = raw.get(name)
        if isinstance(value, list):
            value = "\n".join(str(v) for v in value)
        text = "" if value is None else str(value)
        if not text.strip():
            if not ordering.is_optional(name):
                check.errors[name] = _("This step cannot be skipped.")
            continue
        try:
            check.values[name] = ordering.parse_value(name, text, service, check.values)
        except ordering.InputError as exc:
            check.errors[name] = _(exc.msgid, **exc.values)
    if check.ok:
        check.price = ordering.price_for(service, check.values)
    return check


async def store_draft(
    sessions: async_sessionmaker[AsyncSession],
    account: Account,
    service: Service,
    values: dict[str, Any],
    *,
    chat_id: int,
    user_id: int,
    currency: str | None,
    replaces: str | None = None,
) -> Order:
    """The draft row with its confirm token, for the chat's order summary and the Mini App alike; the draft
    of token `replaces` (the summary shown before an edit) is discarded in the same transaction."""
    assert account.id is not None
    price = ordering.price_for(service, values)
    async with sessions() as session:
        if replaces:
            await repo.orders.discard_draft(session, replaces, chat_id)
        order = await repo.orders.create_draft(
            session,
            chat_id=chat_id,
            account_id=account.id,
            placed_by=user_id,
            service_id=service.id,
            price=price if price is not None else Decimal(0),
            service_name=service.name,
            service_type=service.type,
            currency=currency,
            refill_allowed=service.refill,
            cancel_allowed=service.cancel,
            **ordering.draft_columns(service, values),
        )
        await session.commit()
    return order

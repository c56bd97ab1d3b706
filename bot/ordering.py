"""Placing an order: which fields a service needs, checking what the user typed, the exact price, and the
exactly-once placement (draft -> sending -> add -> placed | rejected | unclear). No Telegram here.

Input errors carry an English message id (marked with `lazy`) and its values; the UI translates them.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.alerts import check_balance_after_order
from bot.durable_writes import WriteFailed, keep_trying_later, write_with_retries
from bot.i18n import lazy
from bot.panel import (
    AddResult,
    Balance,
    InvalidKey,
    OutcomeUnknown,
    PanelError,
    PanelUnavailable,
    ProtocolError,
    Service,
    fields_for_type,
)
from bot.panels import PanelHub
from storage import repo
from storage.models import Order, Placement
from storage.types import utcnow

log = logging.getLogger(__name__)

LINK_MAX = 500
DELAY_CHOICES = (0, 5, 10, 15, 30, 60, 90)  # minutes; the common Subscriptions delays, offered as buttons
RUNS_MAX = 1000
INTERVAL_MAX = 43_200  # minutes (30 days)
LIST_FIELDS = ("comments", "usernames", "hashtags", "keywords", "groups")
# Optional fields asked for (with a Skip button); the others of a type are left out to keep the wizard short.
ASKED_OPTIONAL = ("posts", "old_posts", "expiry", "country")
DRIP_FIELDS = ("runs", "interval")
SKIPPABLE = frozenset({"runs", *ASKED_OPTIONAL})
# Packages are sold whole: their price is the rate itself, not rate x quantity / 1000.
FLAT_PRICE_TYPES = frozenset({"package", "custom comments package"})
BALANCE_TIMEOUT = 8.0  # seconds; a summary or a result is not held up longer for a balance

_USERNAME = re.compile(r"@?[A-Za-z0-9_.]{1,64}")
_HASHTAG = re.compile(r"#?\w{1,100}")
_NUMBER = re.compile(r"[+]?\d{1,15}")


class InputError(ValueError):
    """What the user typed does not fit; `msgid` (English) and `values` make the message."""

    def __init__(self, msgid: str, **values: object) -> None:
        super().__init__(msgid.format(**values) if values else msgid)
        self.msgid = msgid
        self.values = values


def type_key(service_type: str | None) -> str:
    return re.sub(r"[\s_\-]+", " ", (service_type or "").strip().lower())


# ---------------------------------------------------------------------------------------------- steps


def plan_steps(service: Service) -> list[str]:
    """The fields asked for, in order: the type's required ones, drip-feed for drip-feed services, then the
    few optional ones we ask."""
    tf = fields_for_type(service.type)
    steps = list(tf.required)
    if service.dripfeed and "runs" in tf.optional:
        steps += DRIP_FIELDS
    steps += [f for f in tf.optional if f in ASKED_OPTIONAL]
    return steps


def applies(field: str, values: dict[str, Any]) -> bool:
    """Whether a planned step is asked, given the answers so far (no interval without runs)."""
    return field != "interval" or values.get("runs") is not None


def is_optional(field: str) -> bool:
    return field in SKIPPABLE


def quantity_from(service: Service) -> str | None:
    return fields_for_type(service.type).quantity_from


def count_range(service: Service) -> tuple[int, int | None]:
    lo = service.min if service.min is not None and service.min > 0 else 1
    return lo, service.max


# ---------------------------------------------------------------------------------------------- input


def _whole(text: str) -> int:
    cleaned = text.strip().replace(" ", "").replace(",", "").replace("_", "")
    if not _NUMBER.fullmatch(cleaned):
        raise InputError(lazy("Please send a whole number, e.g. 1000."))
    return int(cleaned)


def _in_range(n: int, lo: int, hi: int | None, what: str) -> int:
    if n < lo or (hi is not None and n > hi):
        if what == "lines":
            raise InputError(
                lazy("Send between {min} and {max} lines (one per line)."), min=lo, max=hi or "∞"
            )
        raise InputError(lazy("The quantity must be between {min} and {max}."), min=lo, max=hi or "∞")
    return n


def check_link(text: str) -> str:
    link = text.strip()
    bad = InputError(
        lazy(
            "That is not a valid link. Send a full link starting with https:// "
            "(no spaces, at most {max} characters)."
        ),
        max=LINK_MAX,
    )
    if not link or len(link) > LINK_MAX or any(ch.isspace() for ch in link):
        raise bad
    try:
        parts = urlsplit(link)
        host = parts.hostname or ""
    except ValueError:
        raise bad from None
    if parts.scheme.lower() not in ("http", "https") or "." not in host.strip("."):
        raise bad
    return link


def check_username(text: str) -> str:
    name = text.strip()
    if not _USERNAME.fullmatch(name) or name == "@":
        raise InputError(
            lazy("That is not a valid username: use letters, digits, _ and . (an optional @ first).")
        )
    return name


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _check_list(field: str, text: str, service: Service) -> list[str]:
    lines = _lines(text)
    if not lines:
        raise InputError(lazy("Send at least one line."))
    for line in lines:
        if field == "usernames" and not _USERNAME.fullmatch(line):
            raise InputError(lazy("Not a valid username: {line}"), line=line[:64])
        if field == "hashtags" and not _HASHTAG.fullmatch(line):
            raise InputError(lazy("Not a valid hashtag: {line}"), line=line[:64])
    if quantity_from(service) == field:
        lo, hi = count_range(service)
        _in_range(len(lines), lo, hi, "lines")
    return lines


def _check_expiry(text: str) -> str:
    cleaned = re.sub(r"[.\-]", "/", text.strip())
    try:
        day = datetime.strptime(cleaned, "%d/%m/%Y").replace(tzinfo=UTC).date()
    except ValueError:
        raise InputError(lazy("Send the date as day/month/year, e.g. 31/12/2030.")) from None
    if day < datetime.now(UTC).date():
        raise InputError(lazy("That date is in the past."))
    return day.strftime("%d/%m/%Y")


def parse_value(field: str, text: str, service: Service, values: dict[str, Any]) -> Any:
    """The stored (JSON-able) value of one answer; InputError when it does not fit."""
    text = text.strip()
    if field in ("link", "media"):
        return check_link(text)
    if field == "username":
        return check_username(text)
    if field in LIST_FIELDS:
        return _check_list(field, text, service)
    if field == "hashtag":
        if not _HASHTAG.fullmatch(text):
            raise InputError(lazy("Send one hashtag, e.g. #summer."))
        return text
    if field == "country":
        if not text or len(text) > 64 or "\n" in text:
            raise InputError(lazy("Send a country name or code, e.g. US."))
        return text
    if field == "expiry":
        return _check_expiry(text)
    n = _whole(text)
    lo, hi = count_range(service)
    if field == "quantity":
        return _in_range(n, lo, hi, "quantity")
    if field == "min":
        return _in_range(n, lo, hi, "quantity")
    if field == "max":
        return _in_range(n, max(lo, int(values.get("min") or lo)), hi, "quantity")
    if field == "delay":
        if n > 100_000:
            raise InputError(lazy("Send the delay in minutes, e.g. 30."))
        return n
    if field == "runs":
        if not 2 <= n <= RUNS_MAX:
            raise InputError(lazy("The number of runs must be between {min} and {max}."), min=2, max=RUNS_MAX)
        return n
    if field == "interval":
        if not 1 <= n <= INTERVAL_MAX:
            raise InputError(
                lazy("The interval must be between {min} and {max} minutes."), min=1, max=INTERVAL_MAX
            )
        return n
    if field == "old_posts" and n >= 0:
        return n
    if n < 1:  # posts, answer_number, and anything else numeric
        raise InputError(lazy("Send a positive whole number."))
    return n


# ---------------------------------------------------------------------------------------------- price


def units(service: Service, values: dict[str, Any]) -> int | None:
    """The quantity shown and stored: typed, or the number of lines of the list that sets it."""
    source = quantity_from(service)
    if source:
        return len(values.get(source) or [])
    quantity = values.get("quantity")
    return int(quantity) if quantity is not None else None


def price_for(service: Service, values: dict[str, Any]) -> Decimal | None:
    """Exact: rate x quantity / 1000 (x runs for drip-feed); a package costs its rate; Subscriptions are
    charged up front for the maximum per post, for each post (one when unlimited). None without a rate."""
    rate = service.rate
    if rate is None:
        return None
    key = type_key(service.type)
    if key in FLAT_PRICE_TYPES:
        return rate
    if key == "subscriptions":
        count = int(values.get("max") or 0) * int(values.get("posts") or 1)
    else:
        count = units(service, values) or 0
    runs = int(values.get("runs") or 1)
    return (rate * count).scaleb(-3) * runs


def draft_columns(service: Service, values: dict[str, Any]) -> dict[str, Any]:
    """link / quantity / fields of the order row for these answers."""
    return {
        "link": values.get("link"),
        "quantity": units(service, values),
        "fields": {k: v for k, v in values.items() if k not in ("link", "quantity") and v is not None},
    }


def add_arguments(order: Order) -> dict[str, Any]:
    """The keyword arguments of PanelClient.add for a stored order: only the fields its type takes (no
    quantity where a list's lines are the quantity)."""
    tf = fields_for_type(order.service_type)
    allowed = set(tf.required) | set(tf.optional)
    kwargs: dict[str, Any] = {}
    if order.link and "link" in allowed:
        kwargs["link"] = order.link
    if order.quantity is not None and "quantity" in allowed:
        kwargs["quantity"] = order.quantity
    for name, value in (order.fields or {}).items():
        if name in allowed and name not in kwargs and value not in (None, "", []):
            kwargs[name] = value
    return kwargs


# ---------------------------------------------------------------------------------------------- placement

Outcome = Literal["placed", "rejected", "unclear", "already", "missing"]


@dataclass
class PlacementResult:
    """`already`: the token was claimed before (order is its current row); `missing`: no such draft."""

    outcome: Outcome
    order: Order | None
    error: PanelError | None = None
    balance: Balance | None = None


def _is_clear_refusal(exc: PanelError) -> bool:
    """The panel said no, or nothing was sent: safe to call rejected. Anything else may have been placed."""
    if isinstance(exc, OutcomeUnknown | ProtocolError):  # an answer we could not read
        return False
    if isinstance(exc, PanelUnavailable):
        return not exc.request_sent
    return True  # InvalidKey, NotEnoughFunds, BadRequest & co, RateLimited (refused before processing)


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, PanelError):
        return (exc.panel_message or exc.message)[:500]
    return type(exc).__name__


async def place_order(
    sessions: async_sessionmaker[AsyncSession],
    panels: PanelHub,
    token: str,
    *,
    chat_id: int | None = None,
    with_balance: bool = True,
) -> PlacementResult:
    """Place the draft with this confirm token exactly once; an `add` that may have been sent is never
    retried. `with_balance=False` skips reading the balance afterwards (a mass order reads it once)."""
    async with sessions() as session:
        order = await repo.orders.claim_draft_for_sending(session, token, chat_id)
        if order is None:
            existing = await repo.orders.get_order_by_token(session, token)
            if existing is not None and chat_id is not None and existing.chat_id != chat_id:
                existing = None
            return PlacementResult("already" if existing else "missing", existing)
        account = await repo.accounts.get_account(session, order.account_id)
    assert order.id is not None
    if account is None:  # unlinked between the summary and Confirm: nothing was sent
        return await _finish(
            sessions, order.id, "rejected", InvalidKey("The panel account is no longer linked")
        )
    try:
        client = panels.client(account)
        arguments = add_arguments(order)
    except Exception as exc:  # e.g. a key that no longer decrypts: nothing was sent
        log.exception("order %s: could not prepare the request", order.id)
        return await _finish(sessions, order.id, "rejected", PanelError(f"cannot send: {type(exc).__name__}"))
    try:
        result = await client.add(order.service_id, **arguments)
    except PanelError as exc:
        outcome: Outcome = "rejected" if _is_clear_refusal(exc) else "unclear"
        log.info("order %s %s: %s", order.id, outcome, exc)
        placed = await _finish(sessions, order.id, outcome, exc)
    except Exception as exc:  # a bug or a broken connection after the request may have gone out
        log.exception("order %s: unexpected error while placing; marked unclear", order.id)
        placed = await _finish(
            sessions, order.id, "unclear", OutcomeUnknown(f"unexpected {type(exc).__name__}")
        )
    else:
        placed = await _record_placement(sessions, order, token, result)
    if with_balance:
        placed.balance = await refresh_balance(sessions, panels, account)
    if placed.balance is not None:
        try:
            await check_balance_after_order(sessions, account.id, placed.balance)  # low-balance alert
        except Exception:  # the order's result matters more than the alert (which the balance job redoes)
            log.warning("order %s: the low-balance check failed", order.id, exc_info=True)
    return placed


async def _record_placement(
    sessions: async_sessionmaker[AsyncSession], order: Order, token: str, result: AddResult
) -> PlacementResult:
    """Store the panel's answer to `add`. The panel has taken the money: the id is logged first, the write
    is retried (bot/durable_writes.py), and the person is told "placed #id" whatever happens to the write.

    When every try fails, a smaller write (id and state only; the tracker reads charge and status from the
    panel later) goes on in the background for a few minutes. Meanwhile the row stays `sending` (the leader
    turns it `unclear` after a while, and the background write still moves it on to `placed` from there);
    if that fails too, the ERROR line in the log carries what an operator needs to reconcile."""
    assert order.id is not None
    order_id, panel_id = order.id, result.order_id
    log.warning(
        "order %s (draft %s, account %s): the panel placed it as #%s",
        order_id,
        token,
        order.account_id,
        panel_id,
    )
    what = f"order {order_id} (draft {token}, account {order.account_id}) placed as panel order #{panel_id}"

    async def full(session: AsyncSession) -> Order | None:
        return await repo.orders.mark_placed(
            session, order_id, panel_id, charge=result.charge, currency=result.currency, next_poll_at=utcnow()
        )

    async def bare(session: AsyncSession) -> Order | None:
        return await repo.orders.mark_placed(session, order_id, panel_id)

    try:
        row = await write_with_retries(sessions, full, what=what)
    except WriteFailed:
        log.error("%s: NOT STORED yet; retrying in the background", what)
        keep_trying_later(sessions, bare, what=what)
        row = None
    if row is None:  # not written (or no longer `sending`): show what the panel said
        order.placement = Placement.placed
        order.panel_order_id = panel_id
        order.placed_at = order.placed_at or utcnow()
        if result.charge is not None:
            order.charge = result.charge
        if result.currency:
            order.currency = result.currency
    return PlacementResult("placed", row or order)


async def _finish(
    sessions: async_sessionmaker[AsyncSession], order_id: int, outcome: Outcome, exc: PanelError
) -> PlacementResult:
    async with sessions() as session:
        mark = repo.orders.mark_rejected if outcome == "rejected" else repo.orders.mark_unclear
        row = await mark(session, order_id, _error_text(exc))
        await session.commit()
        if row is None:
            row = await repo.orders.get_order(session, order_id)
    return PlacementResult(outcome, row, exc)


async def fetch_balance(panels: PanelHub, account: Any) -> Balance | None:
    """The panel's balance now, or None when it cannot be had quickly."""
    try:
        return await asyncio.wait_for(panels.client(account).balance(), BALANCE_TIMEOUT)
    except (PanelError, TimeoutError) as exc:
        log.info("balance of account %s unavailable: %s", getattr(account, "id", "?"), exc)
        return None


async def refresh_balance(
    sessions: async_sessionmaker[AsyncSession], panels: PanelHub, account: Any
) -> Balance | None:
    """Best effort: read the balance and remember it on the account."""
    balance = await fetch_balance(panels, account)
    if balance is not None:
        try:
            async with sessions() as session:
                await repo.accounts.record_balance(session, account.id, balance.amount, balance.currency)
                await session.commit()
        except Exception:  # a stored balance is a nicety; the order result matters
            log.warning("could not record the balance of account %s", account.id, exc_info=True)
    return balance


__all__ = [
    "DELAY_CHOICES",
    "InputError",
    "PlacementResult",
    "add_arguments",
    "applies",
    "draft_columns",
    "fetch_balance",
    "is_optional",
    "parse_value",
    "place_order",
    "plan_steps",
    "price_for",
    "refresh_balance",
    "units",
]

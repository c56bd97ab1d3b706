"""Typed answers of the panel API v2, parsed tolerantly (panels drift on every type).

Money is Decimal parsed from the text (the client decodes JSON with parse_float=Decimal). An odd field becomes
None/unknown; it never makes the whole answer fail.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

__all__ = [
    "FINAL_ORDER_STATUSES",
    "FINAL_REFILL_STATUSES",
    "LIST_FIELDS",
    "SERVICE_TYPE_FIELDS",
    "AddResult",
    "Balance",
    "OrderStatus",
    "RefillStatus",
    "Service",
    "TypeFields",
    "clip",
    "fields_for_type",
    "is_final_status",
    "normalize_status",
    "parse_bool",
    "parse_decimal",
    "parse_int",
    "parse_str",
]

_INT_LIMIT = 2**63


# Compiled once: a catalog of 10,000 services goes through these some 70,000 times.
_INT_TEXT = re.compile(r"[+-]?\d{1,19}")
_INT_POINT_ZERO = re.compile(r"[+-]?\d{1,19}\.0*")
_PLAIN_DECIMAL = re.compile(r"\d{1,17}(\.\d{1,20})?")  # the common case: "0.90", "12", "100.84292"
_THOUSANDS = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")
_DECIMAL_TEXT = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d{1,3})?")


def parse_int(value: Any) -> int | None:
    """123, "123", " 123 ", "1,234", 123.0, Decimal("123") -> int; anything else -> None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value if -_INT_LIMIT < value < _INT_LIMIT else None
    if isinstance(value, str):
        if len(value) <= 18 and value.isascii() and value.isdigit():  # fast path: "50", "10000"
            return int(value)
        text = value.strip().replace(",", "").replace(" ", "")
        if _INT_TEXT.fullmatch(text):
            return parse_int(int(text))
        if not _INT_POINT_ZERO.fullmatch(text):
            return None
        value = Decimal(text)
    if isinstance(value, float):
        value = parse_decimal(value)
    # adjusted() first: comparing 1e999999999 with an int overflows the decimal context.
    if isinstance(value, Decimal) and value.is_finite() and value.adjusted() < 19 and abs(value) < _INT_LIMIT:
        if value == value.to_integral_value():
            return int(value)
    return None


def parse_decimal(value: Any) -> Decimal | None:
    """Money from "0.90", 0.90 (already a Decimal), 12, "1,234.5", "0,90" -> Decimal; else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return Decimal(value) if abs(value) < 10**18 else None
    if isinstance(value, float):
        value = repr(value)  # only when a caller decoded JSON without parse_float; repr is the shortest text
    if isinstance(value, str) and value.isascii() and _PLAIN_DECIMAL.fullmatch(value):
        value = Decimal(value)  # fast path; the magnitude checks below still apply
    elif isinstance(value, str):
        text = value.strip().replace(" ", "").lstrip("$€₽")
        if _THOUSANDS.fullmatch(text):
            text = text.replace(",", "")  # thousands separators
        elif _DECIMAL_COMMA.fullmatch(text):
            text = text.replace(",", ".")  # decimal comma
        if not _DECIMAL_TEXT.fullmatch(text) or len(text) > 60:
            return None
        try:
            value = Decimal(text)
        except InvalidOperation:
            return None
    if not isinstance(value, Decimal) or not value.is_finite():
        return None
    if value.is_zero():
        return value if value.as_tuple().exponent >= -30 else Decimal(0)  # type: ignore[operator]
    # Absurd magnitudes (1e999999) are not money and would explode when formatted.
    if not -30 <= value.adjusted() < 18 or len(value.as_tuple().digits) > 40:
        return None
    return value


_TRUE = {"1", "true", "yes", "y", "on", "enabled", "enable", "active"}
_FALSE = {"0", "false", "no", "n", "off", "disabled", "disable", "", "null", "none"}


def parse_bool(value: Any, default: bool = False) -> bool:
    """true/1/"1"/"true"/"yes" -> True; false/0/"0"/missing -> False; anything odd -> default."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | Decimal | float):
        try:
            return value != 0
        except (ArithmeticError, ValueError):
            return default
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
    return default


# Statuses, service types and currencies are short identifiers; a panel that sends pages of text in one of
# them gets it clipped here, where its answers come in (error texts are kept whole: they explain things).
STATUS_MAX = 64
TYPE_MAX = 64
CURRENCY_MAX = 16


def clip(text: str | None, limit: int) -> str | None:
    """`text` cut to at most `limit` characters (trailing space removed); None stays None."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit].rstrip()


def parse_str(value: Any) -> str | None:
    """A string stripped (empty -> None); numbers as their text; containers -> None."""
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | Decimal):
        return str(value)
    return None


# ---------------------------------------------------------------------------------------------- statuses

_CANONICAL = [
    "Pending",
    "In progress",
    "Processing",
    "Completed",
    "Partial",
    "Canceled",
    "Refunded",
    "Failed",
    "Rejected",
    "Awaiting",
    "Error",
]
_STATUS_SYNONYMS = {
    **{s.lower(): s for s in _CANONICAL},
    "inprogress": "In progress",
    "in process": "In progress",
    "progress": "In progress",
    "cancelled": "Canceled",
    "cancel": "Canceled",
    "canceled by admin": "Canceled",
    "complete": "Completed",
    "success": "Completed",
    "partially completed": "Partial",
    "partial completed": "Partial",
    "refund": "Refunded",
    "fail": "Failed",
    "reject": "Rejected",
    "pending cancel": "Pending",
}
FINAL_ORDER_STATUSES = frozenset({"Completed", "Partial", "Canceled", "Refunded", "Failed"})
FINAL_REFILL_STATUSES = frozenset({"Completed", "Rejected", "Canceled", "Refunded", "Failed"})


def normalize_status(status: Any) -> str:
    """The canonical capitalised status ("in_progress" -> "In progress", "Cancelled" -> "Canceled",
    "Compeleted" -> "Completed"), or the panel's text (stripped) when unknown."""
    text = parse_str(status) or ""
    key = re.sub(r"[\s_\-]+", " ", text.lower()).strip()
    if key in _STATUS_SYNONYMS:
        return _STATUS_SYNONYMS[key]
    if 5 <= len(key) <= 20:  # misspellings seen on panels ("Compeleted", "Rejeted")
        close = difflib.get_close_matches(key, list(_STATUS_SYNONYMS), n=1, cutoff=0.85)
        if close:
            return _STATUS_SYNONYMS[close[0]]
    return text


def is_final_status(status: Any) -> bool:
    """Completed, Partial, Canceled/Cancelled, Refunded, Failed (any case). Unknown -> not final."""
    return normalize_status(status) in FINAL_ORDER_STATUSES


# ---------------------------------------------------------------------------------------------- answers


@dataclass(frozen=True, slots=True)
class Service:
    id: int
    name: str
    type: str
    category: str
    rate: Decimal | None
    min: int | None
    max: int | None
    refill: bool
    cancel: bool
    dripfeed: bool
    description: str | None
    average_time: str | None

    @classmethod
    def from_json(cls, item: Any) -> Service | None:
        """One item of the `services` list; None when it has no usable id."""
        if not isinstance(item, dict):
            return None
        sid = parse_int(item.get("service", item.get("id")))
        if sid is None:
            return None
        avg = item.get("average_time", item.get("avg_time"))
        return cls(
            id=sid,
            name=parse_str(item.get("name")) or f"#{sid}",
            type=clip(parse_str(item.get("type")), TYPE_MAX) or "Default",
            category=parse_str(item.get("category")) or "",
            rate=parse_decimal(item.get("rate")),
            min=parse_int(item.get("min")),
            max=parse_int(item.get("max")),
            refill=parse_bool(item.get("refill")),
            cancel=parse_bool(item.get("cancel")),
            dripfeed=parse_bool(item.get("dripfeed")),
            description=parse_str(item.get("description", item.get("desc"))),
            average_time=parse_str(avg),
        )


@dataclass(frozen=True, slots=True)
class AddResult:
    order_id: int
    charge: Decimal | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", clip(self.currency, CURRENCY_MAX))


@dataclass(frozen=True, slots=True)
class OrderStatus:
    status: str
    charge: Decimal | None = None
    start_count: int | None = None
    remains: int | None = None
    currency: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", clip(self.status, STATUS_MAX))
        object.__setattr__(self, "currency", clip(self.currency, CURRENCY_MAX))

    @property
    def normalized(self) -> str:
        return normalize_status(self.status)

    @property
    def is_final(self) -> bool:
        return is_final_status(self.status)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrderStatus:
        return cls(
            status=parse_str(data.get("status")) or "Unknown",
            charge=parse_decimal(data.get("charge")),
            start_count=parse_int(data.get("start_count")),
            remains=parse_int(data.get("remains")),
            currency=parse_str(data.get("currency")),
        )


@dataclass(frozen=True, slots=True)
class RefillStatus:
    status: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", clip(self.status, STATUS_MAX))

    @property
    def normalized(self) -> str:
        return normalize_status(self.status)

    @property
    def is_final(self) -> bool:
        return self.normalized in FINAL_REFILL_STATUSES


@dataclass(frozen=True, slots=True)
class Balance:
    amount: Decimal
    currency: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "currency", clip(self.currency, CURRENCY_MAX))


# ---------------------------------------------------------------------------------------------- add fields

LIST_FIELDS = frozenset({"comments", "usernames", "hashtags", "keywords", "groups"})
"""Fields whose value is a list of lines (sent joined with newlines)."""


@dataclass(frozen=True, slots=True)
class TypeFields:
    """What `add` needs for a service type: `required` and `optional` field names (besides `service`), and
    `quantity_from`: the list field whose number of lines is the quantity (then `quantity` is not sent)."""

    required: tuple[str, ...]
    optional: tuple[str, ...] = ()
    quantity_from: str | None = None

    @property
    def quantity_from_comments(self) -> bool:
        return self.quantity_from == "comments"


_DRIP = ("runs", "interval")
SERVICE_TYPE_FIELDS: dict[str, TypeFields] = {
    "Default": TypeFields(("link", "quantity"), _DRIP),
    "Package": TypeFields(("link",)),
    "SEO": TypeFields(("link", "quantity", "keywords")),
    "Custom Comments": TypeFields(("link", "comments"), quantity_from="comments"),
    "Custom Comments Package": TypeFields(("link", "comments"), quantity_from="comments"),
    "Mentions": TypeFields(("link", "quantity", "usernames")),
    "Mentions with Hashtags": TypeFields(("link", "quantity", "usernames", "hashtags")),
    "Mentions Custom List": TypeFields(("link", "usernames"), quantity_from="usernames"),
    "Mentions Hashtag": TypeFields(("link", "quantity", "hashtag")),
    "Mentions User Followers": TypeFields(("link", "quantity", "username")),
    "Mentions Media Likers": TypeFields(("link", "quantity", "media")),
    "Comment Likes": TypeFields(("link", "quantity", "username")),
    # The replies are the comment lines, so their count is the quantity here too.
    "Comment Replies": TypeFields(("link", "username", "comments"), quantity_from="comments"),
    "Poll": TypeFields(("link", "quantity", "answer_number")),
    "Invites from Groups": TypeFields(("link", "quantity", "groups")),
    "Subscriptions": TypeFields(("username", "min", "max", "delay"), ("posts", "old_posts", "expiry")),
    "Web Traffic": TypeFields(
        ("link", "quantity"),
        (*_DRIP, "country", "device", "type_of_traffic", "google_keyword", "referring_url"),
    ),
}


def _type_key(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


_BY_KEY = {_type_key(k): v for k, v in SERVICE_TYPE_FIELDS.items()}


def fields_for_type(type_name: str | None) -> TypeFields:
    """The fields of a service type, matched case-insensitively; an unknown type gets Default's fields."""
    return _BY_KEY.get(_type_key(type_name or ""), SERVICE_TYPE_FIELDS["Default"])

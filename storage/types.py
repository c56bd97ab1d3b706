"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

import decimal
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Numeric, String, Text
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

MONEY_PRECISION = 30
MONEY_SCALE = 10
_QUANTUM = Decimal(1).scaleb(-MONEY_SCALE)
# Enough digits for NUMERIC(30, 10) whatever the caller's decimal context says.
_CTX = decimal.Context(prec=MONEY_PRECISION + 10, rounding=decimal.ROUND_HALF_EVEN)


def panel_text(sqlite_length: int) -> TypeEngine[str]:
    """A column for a text a panel sends (a status, a type, a currency): TEXT, since a panel may send any
    length and PostgreSQL refuses a VARCHAR(n) overflow with the whole write (migration 0005). On SQLite,
    which checks no length, it stays the VARCHAR(n) the table was created with: the same thing there, and
    no table rebuild."""
    return Text().with_variant(String(sqlite_length), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_decimal(value: Any) -> Decimal:
    """A finite Decimal from a Decimal, int or str (floats go through str to avoid binary noise)."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise TypeError("a money amount cannot be a bool")
    elif isinstance(value, int | str):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    else:
        raise TypeError(f"not a money amount: {type(value).__name__}")
    if not result.is_finite():
        raise ValueError(f"not a finite money amount: {value!r}")
    return result


def canonical(value: Decimal) -> Decimal:
    """Same value without trailing zeros and without an exponent: 1.2300 -> 1.23, 1E+2 -> 100."""
    value = value.normalize(_CTX)
    if value.as_tuple().exponent > 0:  # type: ignore[operator]
        value = value.quantize(Decimal(1), context=_CTX)
    return value


class Money(TypeDecorator[Decimal]):
    """Exact amounts: NUMERIC(30, 10) on PostgreSQL, a decimal string on SQLite.

    SQLite has no decimal type (NUMERIC columns become floats), so it gets TEXT. Consequence: on SQLite,
    SQL comparisons and sums over money columns are not numeric; compare in Python. Values are rounded to
    10 decimal places on both backends and come back as canonical `Decimal`s (no trailing zeros).
    """

    impl = Numeric(MONEY_PRECISION, MONEY_SCALE)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(Text())
        return dialect.type_descriptor(Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = canonical(to_decimal(value).quantize(_QUANTUM, context=_CTX))
        if len(amount.as_tuple().digits) > MONEY_PRECISION:
            raise ValueError(f"money amount too large: {value!r}")
        return format(amount, "f") if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return canonical(Decimal(value) if isinstance(value, str | Decimal) else Decimal(str(value)))


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend.

    PostgreSQL keeps `timestamptz`; SQLite stores a naive UTC string (fixed width, so SQL comparisons in the
    same type still order correctly) and gets UTC attached again when read. Naive input is refused: it is
    almost always a bug (`datetime.utcnow()` or local time).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"not a datetime: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime given, use an aware one (e.g. datetime.now(UTC)): {value!r}")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

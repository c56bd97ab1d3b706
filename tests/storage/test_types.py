"""Money stays exact and datetimes stay aware UTC, on both backends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Chat
from storage.repo import chats
from storage.types import Money, UTCDateTime, canonical

AMOUNTS = [
    Decimal("0.00012345"),
    Decimal("123456789.12345"),
    Decimal("0"),
    Decimal("1E+2"),
    Decimal("99999999999999999999.9999999999"),
    Decimal("-3.5"),
    Decimal("0.0000000001"),
]


@pytest.mark.parametrize("amount", AMOUNTS)
async def test_money_round_trips_exactly(session: AsyncSession, amount: Decimal) -> None:
    await chats.get_or_create_chat(session, 1)
    await chats.update_chat(session, 1, low_balance_threshold=amount)
    await session.commit()
    session.expunge_all()
    value = await session.scalar(select(Chat.low_balance_threshold).where(Chat.id == 1))
    assert isinstance(value, Decimal)
    assert value == amount
    assert format(value, "f") == format(canonical(amount), "f")


async def test_money_is_stored_as_text_on_sqlite_and_numeric_on_postgresql(session: AsyncSession) -> None:
    await chats.get_or_create_chat(session, 1)
    await chats.update_chat(session, 1, low_balance_threshold=Decimal("0.00012345"))
    await session.flush()
    raw = await session.scalar(text("SELECT low_balance_threshold FROM chat WHERE id = 1"))
    if session.get_bind().dialect.name == "sqlite":
        assert raw == "0.00012345"
    else:
        assert raw == Decimal("0.00012345")


@given(st.decimals(min_value=Decimal("-1e19"), max_value=Decimal("1e19"), places=10, allow_nan=False))
def test_money_bind_and_result_are_inverse(amount: Decimal) -> None:
    money = Money()
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        bound = money.process_bind_param(amount, dialect)
        assert money.process_result_value(bound, dialect) == amount


def test_money_refuses_nan_and_bool() -> None:
    with pytest.raises(ValueError):
        Money().process_bind_param(Decimal("NaN"), sqlite.dialect())
    with pytest.raises(TypeError):
        Money().process_bind_param(True, sqlite.dialect())


async def test_aware_datetimes_round_trip_as_utc(session: AsyncSession) -> None:
    moment = datetime(2024, 2, 29, 23, 30, 15, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    chat = await chats.get_or_create_chat(session, 1)
    chat.created_at = moment
    await session.commit()
    session.expunge_all()
    value = await session.scalar(select(Chat.created_at).where(Chat.id == 1))
    assert value == moment
    assert value.tzinfo is UTC or value.utcoffset() == timedelta(0)
    assert value.hour == 18  # 23:30 at +05:30 is 18:00 UTC
    # Comparisons in SQL use the same conversion, so ordering holds across offsets.
    later = await session.scalar(select(Chat.id).where(Chat.created_at > moment - timedelta(microseconds=1)))
    assert later == 1


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        UTCDateTime().process_bind_param(datetime(2024, 1, 1), sqlite.dialect())

"""Fixtures for the storage tests."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Account
from tests.storage.helpers import make_account


@pytest.fixture
async def account(session: AsyncSession) -> Account:
    acc = await make_account(session)
    await session.commit()
    return acc

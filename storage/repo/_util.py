"""Helpers shared by the repository modules."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


def dialect_name(executor: AsyncSession | AsyncConnection) -> str:
    if isinstance(executor, AsyncConnection):
        return executor.dialect.name
    return executor.get_bind().dialect.name


def dialect_insert(executor: AsyncSession | AsyncConnection, table: Any) -> Any:
    """An INSERT that supports ON CONFLICT for the backend (SQLite or PostgreSQL)."""
    name = dialect_name(executor)
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"ON CONFLICT not supported on {name}")

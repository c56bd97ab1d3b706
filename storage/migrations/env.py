"""Alembic environment (async template).

`storage.db.migrate()` passes a live connection in `config.attributes["connection"]`; the `alembic` command
line (with `-x url=...`, `sqlalchemy.url`, or SMMBOT_DATABASE_URL) gets an engine of its own.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import storage.models  # noqa: F401  (registers the tables on SQLModel.metadata)
from storage.db import create_engine
from storage.types import Money, UTCDateTime

config = context.config
target_metadata = SQLModel.metadata


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render our column types as plain SQLAlchemy ones, so that migrations do not import the app."""
    if type_ != "type":
        return False
    if isinstance(obj, Money):
        return 'sa.Numeric(30, 10).with_variant(sa.Text(), "sqlite")'
    if isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    if isinstance(obj, AutoString):
        return "sa.String()" if obj.length is None else f"sa.String({obj.length})"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=_render_item,
        compare_type=True,
        **kwargs,
    )


def _url() -> str:
    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option("sqlalchemy.url")
    url = url or os.environ.get("SMMBOT_DATABASE_URL")
    if not url:
        raise RuntimeError("no database URL: pass -x url=..., set sqlalchemy.url or SMMBOT_DATABASE_URL")
    return url


def run_migrations_offline() -> None:
    url = _url()
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def do_run_migrations(connection: Connection) -> None:
    # Batch mode rebuilds tables for ALTERs that SQLite cannot do. A future batch migration that rebuilds a
    # referenced table must run with PRAGMA foreign_keys=OFF, which SQLite only accepts outside a transaction.
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations() -> None:
    engine = create_engine(_url(), transactional_ddl=True)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(do_run_migrations)
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        do_run_migrations(connection)
    else:
        asyncio.run(run_async_migrations())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()

"""Migrations create exactly what the models describe, on both backends."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import SQLModel

import storage.models  # noqa: F401
from storage.db import alembic_config, create_engine, current_revision, migrate

TABLES = {"chat", "account", "favorite", "orders", "refill", "outbox", "conversation", "alembic_version"}


def _diff(connection: Connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, SQLModel.metadata)


async def test_migrated_schema_matches_models(empty_db_url: str) -> None:
    assert await current_revision(empty_db_url) is None
    await migrate(empty_db_url)
    eng = create_engine(empty_db_url)
    try:
        async with eng.connect() as conn:
            tables = set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
            diff = await conn.run_sync(_diff)
    finally:
        await eng.dispose()
    assert tables == TABLES
    assert diff == []


async def test_fixture_databases_are_at_head(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert set(await conn.run_sync(lambda c: inspect(c).get_table_names())) == TABLES
        assert await conn.run_sync(_diff) == []


async def test_migrate_is_idempotent_and_at_head(empty_db_url: str) -> None:
    await migrate(empty_db_url)
    await migrate(empty_db_url)
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head == "0006"
    assert await current_revision(empty_db_url) == head


async def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    await migrate(db_url)
    eng = create_engine(db_url, transactional_ddl=True)
    cfg = alembic_config(db_url)

    def down(connection: Connection) -> None:
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "base")

    async with eng.begin() as conn:
        await conn.run_sync(down)
    async with eng.connect() as conn:
        assert set(await conn.run_sync(lambda c: inspect(c).get_table_names())) <= {"alembic_version"}
    await eng.dispose()
    await migrate(db_url)
    assert await current_revision(db_url) == "0006"


async def test_migrate_from_another_cwd_creates_parent_dir(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "smmbot.db"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    old = Path.cwd()
    os.chdir(elsewhere)
    try:
        await migrate(f"sqlite+aiosqlite:///{target}")
    finally:
        os.chdir(old)
    assert target.exists()
    assert await current_revision(f"sqlite+aiosqlite:///{target}") == "0006"


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_sqlite_pragmas(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() >= 1000

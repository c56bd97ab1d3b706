"""The one-hop SQLite adapter (storage/sqlite_driver.py) behaves as a DBAPI cursor must: rows, rowcount,
lastrowid, description, executemany, errors, and transactions that commit and roll back as asked; reads
marked inline() run on the event loop's thread without ever blocking it."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import column, exc, select, table, text
from sqlalchemy.ext.asyncio import AsyncEngine

from storage.db import SQLITE_BUSY_TIMEOUT_MS, create_engine
from storage.sqlite_driver import INLINE, OneHopConnection, inline


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path}/driver.db")
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE item (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE, n INTEGER)")
        )
    yield engine
    await engine.dispose()


async def test_the_engine_uses_the_one_hop_adapter(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection, OneHopConnection)


async def test_rows_rowcount_lastrowid_and_description(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        first = await connection.execute(text("INSERT INTO item (name, n) VALUES ('a', 1)"))
        assert first.lastrowid == 1
        assert not first.returns_rows
        await connection.execute(
            text("INSERT INTO item (name, n) VALUES (:name, :n)"),
            [{"name": "b", "n": 2}, {"name": "c", "n": 3}],  # executemany
        )
        updated = await connection.execute(text("UPDATE item SET n = n + 10 WHERE n >= 2"))
        assert updated.rowcount == 2
        insert = text("INSERT INTO item (name, n) VALUES ('d', 4) RETURNING id, n")
        returned = await connection.execute(insert)
        assert returned.keys() == ["id", "n"]
        assert returned.all() == [(4, 4)]
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT name, n FROM item ORDER BY id"))).all()
        assert rows == [("a", 1), ("b", 12), ("c", 13), ("d", 4)]
        empty = await connection.execute(text("SELECT name FROM item WHERE n > 100"))
        assert empty.keys() == ["name"] and empty.all() == []
        deleted = await connection.execute(text("DELETE FROM item WHERE n > 10"))
        assert deleted.rowcount == 2
        await connection.rollback()  # the delete is undone
        count = await connection.scalar(text("SELECT count(*) FROM item"))
        assert count == 4


async def test_errors_are_sqlalchemy_errors_and_the_connection_goes_on(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO item (name) VALUES ('x')"))
        with pytest.raises(exc.IntegrityError):
            await connection.execute(text("INSERT INTO item (name) VALUES ('x')"))
        with pytest.raises(exc.OperationalError):
            await connection.execute(text("SELECT nope FROM item"))
        await connection.commit()
    async with engine.connect() as connection:
        assert await connection.scalar(text("SELECT count(*) FROM item WHERE name = 'x'")) == 1


async def test_commit_and_rollback_without_a_transaction_are_harmless(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT 1"))).scalar() == 1  # a read opens no transaction
        await connection.commit()
        await connection.rollback()
        await connection.execute(text("INSERT INTO item (name) VALUES ('kept')"))
        await connection.commit()
        await connection.execute(text("INSERT INTO item (name) VALUES ('dropped')"))
    # leaving without commit: the pool rolls the open write back
    async with engine.connect() as connection:
        names = (await connection.execute(text("SELECT name FROM item"))).scalars().all()
        assert names == ["kept"]


async def test_an_inline_read_reads_what_a_hop_reads(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO item (name, n) VALUES ('a', 1), ('b', 2)"))
    query = select(column("name"), column("n")).select_from(table("item")).order_by(column("n"))
    async with engine.connect() as connection:
        hopped = (await connection.execute(query)).all()
        inlined = await connection.execute(inline(query))
        assert inlined.keys() == ["name", "n"]
        assert inlined.all() == hopped == [("a", 1), ("b", 2)]
        assert INLINE in str(inline(query).compile(dialect=connection.dialect))


async def test_an_inline_read_does_not_wait_for_a_writer(engine: AsyncEngine, tmp_path: Path) -> None:
    """Another connection holds the write lock with changes not committed: an inline read neither waits
    (WAL: readers take no lock a writer holds) nor sees them, and the busy timeout is what it was."""
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO item (name, n) VALUES ('a', 1)"))
    writer = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("INSERT INTO item (name, n) VALUES ('uncommitted', 2)")
        async with engine.connect() as connection:
            started = time.perf_counter()
            rows = (await connection.execute(inline(select(column("name")).select_from(table("item"))))).all()
            assert time.perf_counter() - started < 1  # the busy timeout is 15 s
            assert rows == [("a",)]
            assert await connection.scalar(text("PRAGMA busy_timeout")) == SQLITE_BUSY_TIMEOUT_MS
    finally:
        writer.execute("ROLLBACK")
        writer.close()

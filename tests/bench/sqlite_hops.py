"""Benchmark: CPU per database call on SQLite, our one-hop adapter (storage/sqlite_driver.py) beside
SQLAlchemy's own aiosqlite adapter, in the same run, on the same migrated file.

Run: `.venv/bin/python tests/bench/sqlite_hops.py [calls]` (default 2000). Prints `name: value` lines, CPU ms
per call (time.process_time(): the aiosqlite threads count too):
- `*_session_point_read_ms`: a session reads one chat row by id (ORM), commits and closes (what an update's
  first look at its chat costs);
- `*_core_point_read_ms`: the same read as a Core statement on a connection;
- `ours_inline_point_read_ms`: that Core read marked inline() (on the event loop's thread, no hop);
- `*_insert_commit_ms`: a session inserts a chat row and commits;
- `*_hop_ms`: one bare call on aiosqlite's thread (the floor of any statement).
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from storage.db import create_engine, migrate
from storage.models import Chat
from storage.sqlite_driver import inline
from storage.types import utcnow

CALLS = int(sys.argv[1]) if len(sys.argv) > 1 else 2000


async def cpu_ms(call: Callable[[int], Awaitable[object]]) -> float:
    for i in range(50):  # warm-up: statement caches, pool
        await call(i)
    started = time.process_time()
    for i in range(CALLS):
        await call(i)
    return (time.process_time() - started) * 1000 / CALLS


async def measure(name: str, engine: AsyncEngine, offset: int) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    table = Chat.__table__  # type: ignore[attr-defined]
    by_id = select(table).where(table.c.id == 1)

    async def session_point_read(i: int) -> None:
        async with sessions() as session:
            await session.get(Chat, 1 + i % 50, populate_existing=True)
            await session.commit()

    async def core_point_read(i: int) -> None:
        async with engine.connect() as connection:
            (await connection.execute(by_id)).all()

    async def inline_point_read(i: int) -> None:
        async with engine.connect() as connection:
            (await connection.execute(inline(by_id))).all()

    new_ids = iter(range(offset, offset + CALLS + 100))

    async def insert_commit(i: int) -> None:
        async with sessions() as session:
            now = utcnow()
            session.add(Chat(id=next(new_ids), kind="private", created_at=now, updated_at=now))
            await session.commit()

    async def hop(i: int) -> None:
        async with engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            for _ in range(10):
                await driver._execute(lambda: None)  # aiosqlite's own queue: one hop, nothing else

    print(f"{name}_session_point_read_ms: {await cpu_ms(session_point_read):.3f}")
    print(f"{name}_core_point_read_ms: {await cpu_ms(core_point_read):.3f}")
    if name == "ours":  # SQLAlchemy's adapter has no inline reads
        print(f"{name}_inline_point_read_ms: {await cpu_ms(inline_point_read):.3f}")
    print(f"{name}_insert_commit_ms: {await cpu_ms(insert_commit):.3f}")
    print(f"{name}_hop_ms: {await cpu_ms(hop) / 10:.3f}")


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        await migrate(url)
        ours = create_engine(url)
        async with async_sessionmaker(ours)() as session:
            now = utcnow()
            session.add_all(Chat(id=i, created_at=now, updated_at=now) for i in range(1, 51))
            await session.commit()
        # SQLAlchemy's adapter with the same pragmas as ours (storage/db.py), only the DBAPI module differs
        stock = create_async_engine(url)

        @event.listens_for(stock.sync_engine, "connect")
        def pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        print(f"calls: {CALLS}")
        for name, engine, offset in (("stock", stock, 10**6), ("ours", ours, 2 * 10**6)):
            await measure(name, engine, offset)
        await ours.dispose()
        await stock.dispose()


if __name__ == "__main__":
    asyncio.run(main())

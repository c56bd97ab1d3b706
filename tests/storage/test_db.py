"""Engine helpers."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from storage.db import create_engine, is_sqlite, make_session_factory, sqlite_url_for


def test_sqlite_url_for_is_absolute(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = sqlite_url_for("data")
    assert url == f"sqlite+aiosqlite:///{tmp_path.resolve()}/data/smmbot.db"
    assert is_sqlite(url) and not is_sqlite("postgresql+asyncpg://u@h/db")


async def test_create_engine_makes_the_parent_directory(tmp_path: Path) -> None:
    url = sqlite_url_for(tmp_path / "new" / "dir")
    engine = create_engine(url)
    try:
        assert (tmp_path / "new" / "dir").is_dir()
        async with make_session_factory(engine)() as session:
            assert await session.scalar(text("SELECT 1")) == 1
    finally:
        await engine.dispose()


async def test_in_memory_sqlite_keeps_one_database() -> None:
    engine = create_engine("sqlite+aiosqlite://")
    try:
        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE t (x INTEGER)"))
            await conn.execute(text("INSERT INTO t VALUES (1)"))
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT x FROM t"))).scalar() == 1
    finally:
        await engine.dispose()


async def test_postgresql_engine(pg_url: str) -> None:
    engine = create_engine(pg_url)
    try:
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM chat"))).scalar() == 0
    finally:
        await engine.dispose()

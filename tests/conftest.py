"""Database fixtures for every test package.

- `db_url`: parametrized over SQLite and PostgreSQL (test ids `[sqlite]`, `[postgresql]`): a fresh database of
  the test's own, ALREADY MIGRATED to head (a copy of a template migrated once per session, which is much
  faster than migrating every test's database).
- `sqlite_url` / `pg_url`: the same for one backend only.
- `empty_db_url`: parametrized too, but an empty database (SQLite: the file does not exist yet), for tests of
  the migrations or of first start.
- `engine`: `migrate(db_url)` (a no-op at head) then `create_engine(db_url)`, disposed after the test;
  `session_factory`: `make_session_factory(engine)`; `session`: one `AsyncSession` from it.
- `pg_server` / `pg_server_url` (from tests/pg.py): the session-wide PostgreSQL server.
The engine fixtures on one backend only: `@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)`.
If PostgreSQL cannot be had, the `postgresql` variants are skipped and the terminal summary says so.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from sqlalchemy import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from storage.db import SQLITE_FILE_NAME, create_engine, make_session_factory, migrate

if TYPE_CHECKING:
    from tests.pg import PostgresServer

# The session PostgreSQL server (`pg_server`, `pg_server_url`) and the terminal warning when it is missing.
pytest_plugins = ["tests.pg"]

BACKENDS = ["sqlite", "postgresql"]
PG_TEMPLATE = "smmbot_template"


def _sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path.as_posix()}"


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session (copied by the SQLite URL fixtures)."""
    from tests.pg import run_in_thread

    path = tmp_path_factory.mktemp("sqlite-template") / SQLITE_FILE_NAME
    run_in_thread(migrate(_sqlite_url(path)))
    # The last connection closed has checkpointed the WAL: the main file is the whole database.
    assert not path.with_name(path.name + "-wal").exists()
    return path


@pytest.fixture(scope="session")
def pg_template(pg_server: PostgresServer) -> str:
    """Name of a PostgreSQL database migrated to head once per session (cloned by the PostgreSQL fixtures)."""
    from tests.pg import run_in_thread

    run_in_thread(migrate(run_in_thread(pg_server.acreate_database(PG_TEMPLATE))))
    return PG_TEMPLATE


def _new_sqlite(tmp_path: Path, template: Path | None) -> str:
    target = tmp_path / "db" / SQLITE_FILE_NAME
    if target.exists():  # a test asking for two databases gets two files
        target = tmp_path / f"db-{uuid.uuid4().hex[:8]}" / SQLITE_FILE_NAME
    if template is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(template, target)
    return _sqlite_url(target)


async def _pg_database(request: pytest.FixtureRequest, migrated: bool) -> AsyncIterator[str]:
    server: PostgresServer = request.getfixturevalue("pg_server")
    template = request.getfixturevalue("pg_template") if migrated else None
    url = await server.acreate_database(f"t_{uuid.uuid4().hex[:16]}", template)
    yield url
    await server.adrop_database(make_url(url).database or "")


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated SQLite database file in the test's tmp_path."""
    return _new_sqlite(tmp_path, sqlite_template)


@pytest.fixture
async def pg_url(request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A migrated PostgreSQL database of the test's own, dropped afterwards."""
    async for url in _pg_database(request, migrated=True):
        yield url


@pytest.fixture(params=BACKENDS)
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated database of the test's own, once per backend."""
    if request.param == "sqlite":
        yield _new_sqlite(tmp_path, request.getfixturevalue("sqlite_template"))
        return
    async for url in _pg_database(request, migrated=True):
        yield url


@pytest.fixture(params=BACKENDS)
async def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database (nothing migrated), once per backend."""
    if request.param == "sqlite":
        yield _new_sqlite(tmp_path, None)
        return
    async for url in _pg_database(request, migrated=False):
        yield url


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    """The engine of a migrated database, disposed after the test."""
    await migrate(db_url)
    eng = create_engine(db_url)
    yield eng
    await eng.dispose()


@pytest.fixture
def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_session_factory(engine)


@pytest.fixture
async def session(session_factory: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session on the migrated database (the test commits when it wants to)."""
    async with session_factory() as s:
        yield s

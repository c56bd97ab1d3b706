"""Async engine, sessions and programmatic Alembic migrations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, make_url
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from storage.sqlite_driver import OneHopDBAPI

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_FILE_NAME = "smmbot.db"
SQLITE_BUSY_TIMEOUT_MS = 15_000


def sqlite_url_for(data_dir: str | Path) -> str:
    """The default database: `<data dir>/smmbot.db`, as an absolute aiosqlite URL."""
    return f"sqlite+aiosqlite:///{(Path(data_dir).expanduser().resolve() / SQLITE_FILE_NAME).as_posix()}"


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_file(url: str) -> Path | None:
    database = make_url(url).database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


def create_engine(url: str, *, echo: bool = False, transactional_ddl: bool = False) -> AsyncEngine:
    """An async engine for an aiosqlite or asyncpg URL.

    SQLite: WAL journal, foreign keys on, a busy timeout so that concurrent writers wait instead of failing.
    The driver's own transaction handling is kept (it opens a transaction only at the first write), so plain
    reads never hold a snapshot that a later write would have to upgrade (which fails at once with "database
    is locked" in WAL mode). `transactional_ddl=True` (used by `migrate`) makes SQLAlchemy emit BEGIN itself,
    so that a failed migration rolls back completely.
    """
    sa_url = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if sa_url.get_backend_name() == "sqlite":
        path = _sqlite_file(url)
        if path is None:
            kwargs["poolclass"] = StaticPool  # in-memory: every connection would be a different database
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
        # One thread hop per statement instead of four, and small reads marked inline() on the event loop's
        # thread (storage/sqlite_driver.py): hence a connection usable from both threads (never at once).
        kwargs["connect_args"] = {"check_same_thread": False}
        engine = create_async_engine(sa_url, module=OneHopDBAPI(SQLITE_BUSY_TIMEOUT_MS), **kwargs)
        _install_sqlite_hooks(engine, in_memory=path is None, transactional_ddl=transactional_ddl)
        return engine
    if sa_url.get_backend_name() == "postgresql":
        # Handlers and jobs; the chats' advisory locks have a pool of their own (bot/conversation.py).
        kwargs.update(pool_size=10, max_overflow=30, pool_pre_ping=True, pool_recycle=1800, pool_timeout=30)
    return create_async_engine(sa_url, **kwargs)


def _install_sqlite_hooks(engine: AsyncEngine, *, in_memory: bool, transactional_ddl: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        if transactional_ddl:
            dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if not in_memory:
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL, much faster than FULL
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        finally:
            cursor.close()

    if transactional_ddl:

        @event.listens_for(engine.sync_engine, "begin")
        def _on_begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN")


def make_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def alembic_config(url: str | None = None) -> Config:
    """Alembic configuration built in code (no alembic.ini), so it works from any cwd and when installed."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))  # ConfigParser interpolation
    return cfg


def _upgrade(connection: Connection, cfg: Config, revision: str) -> None:
    cfg.attributes["connection"] = connection  # env.py uses it instead of making its own engine
    command.upgrade(cfg, revision)


async def migrate(url: str, revision: str = "head") -> None:
    """Apply the Alembic migrations up to `revision`. Safe to call from inside a running event loop."""
    engine = create_engine(url, transactional_ddl=True)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade, alembic_config(url), revision)
    finally:
        await engine.dispose()


def _current(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(url: str) -> str | None:
    """The revision the database is at (None for an empty database)."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    finally:
        await engine.dispose()

"""One leader per database: only the process that holds the lock runs the background work (status tracking,
balance alerts, outbox delivery), so two instances sharing one PostgreSQL during a rolling deploy or with a
standby never poll twice nor send a notification twice. Updates from users are handled by both.

PostgreSQL: a session-level advisory lock held on one dedicated connection; it is released by the server
when that connection (or the process) dies, so a standby takes over at its next check. SQLite: an exclusive
`flock` on a file beside the database, released by the kernel when the process dies.
"""

from __future__ import annotations

import fcntl
import logging
import os
from pathlib import Path
from typing import IO

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# Any constant works; this one spells "smmbot" in hex-ish so it is recognisable in pg_locks.
ADVISORY_LOCK_KEY = 0x5_3B_B0_7


class Leadership:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._lock_file: IO[bytes] | None = None
        self.is_leader = False

    @property
    def _sqlite_path(self) -> Path | None:
        url = self._engine.url
        if url.get_backend_name() != "sqlite":
            return None
        database = url.database
        return Path(database) if database and database != ":memory:" else None

    async def check(self) -> bool:
        """Whether this process leads now: keeps the lock when it has it, tries to take it otherwise."""
        was = self.is_leader
        try:
            if self._engine.url.get_backend_name() == "postgresql":
                self.is_leader = await self._check_postgres()
            else:
                self.is_leader = self._check_file()
        except Exception as exc:  # the database is down: nobody leads from here until it is back
            log.warning("leadership check failed: %s", exc)
            await self._drop_connection()
            self.is_leader = False
        if self.is_leader != was:
            log.warning("this instance %s the background jobs", "now runs" if self.is_leader else "stopped")
        return self.is_leader

    async def _check_postgres(self) -> bool:
        if self._connection is not None:
            try:
                await self._connection.execute(text("SELECT 1"))
                return True
            except Exception:  # connection lost: so is the lock
                await self._drop_connection()
        connection = await self._engine.connect()
        got = await connection.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        await connection.commit()  # leave no transaction open on the held connection
        if got:
            self._connection = connection
            return True
        await connection.close()
        return False

    def _check_file(self) -> bool:
        if self._lock_file is not None:
            return True
        path = self._sqlite_path
        if path is None:  # an in-memory database belongs to this process alone
            return True
        handle = open(path.with_name(path.name + ".leader"), "ab")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
        self._lock_file = handle
        return True

    async def _drop_connection(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                await connection.close()
            except Exception:  # already broken
                log.debug("closing the leadership connection failed", exc_info=True)

    async def release(self) -> None:
        if self._connection is not None:
            try:
                await self._connection.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
            except Exception:
                log.debug("advisory unlock failed", exc_info=True)
            await self._drop_connection()
        if self._lock_file is not None:
            handle, self._lock_file = self._lock_file, None
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()
        self.is_leader = False

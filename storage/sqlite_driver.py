"""SQLAlchemy's aiosqlite adapter, with one thread hop per statement instead of four.

aiosqlite runs each call on the connection's own thread, and every call is a hop: queue the call, wake the
thread, take the GIL, run, wake the event loop through its self-pipe. Measured here, a hop costs about
0.1 ms of CPU, far more than SQLite's own work on a point lookup (about 0.01 ms). SQLAlchemy's adapter makes
four hops per statement (create the cursor, execute, fetch all, close the cursor), one per COMMIT and one per
ROLLBACK, even when no transaction is open: the pool rolls back every connection it takes back.

This adapter keeps SQLAlchemy's aiosqlite dialect and pool, and changes only how a cursor talks to the thread:
- a statement creates its sqlite3 cursor, executes, fetches every row and closes the cursor in ONE call on
  the connection's thread; the description, rowcount and lastrowid are read there and kept;
- COMMIT and ROLLBACK are skipped when the connection has no open transaction (sqlite3 itself does nothing
  then; reading the flag is not a call on the thread). Reads outside a write open no transaction here: the
  driver's own transaction handling is kept (storage/db.py).

A point read that runs for every update can skip the hop altogether: a statement marked with `inline()`
runs on the event loop's own thread. In WAL mode a read takes no lock that a writer holds, so it does not
wait; to make sure it never blocks the loop, it runs with SQLite's busy timeout at 0, and in the rare case
SQLite still answers "busy" (recovery after a crash) it goes to the connection's thread like any other.
Mark only small reads (a primary-key lookup): the loop does nothing else meanwhile.

`tests/bench/sqlite_hops.py` measures it against SQLAlchemy's adapter. Server-side cursors (stream results)
are SQLAlchemy's unchanged ones; nothing of ours uses them.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_

_Outcome = tuple[Any, int, int | None, Sequence[Any]]  # description, rowcount, lastrowid, rows


def _run_statement(raw: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """On the connection's thread: the whole life of one cursor."""
    cursor = raw.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else ()
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


INLINE = "/* inline */"


def inline(statement: Any) -> Any:
    """`statement` (a small read), run on the event loop's thread on SQLite; unchanged elsewhere."""
    return statement.prefix_with(INLINE, dialect="sqlite")


def _run_inline(raw: sqlite3.Connection, operation: str, parameters: Any, timeout_ms: int) -> _Outcome | None:
    """On the event loop's thread, never waiting for a lock: None when SQLite says busy (then the caller
    hops to the connection's thread, where the busy timeout, `timeout_ms`, applies again)."""
    raw.execute("PRAGMA busy_timeout=0")
    try:
        return _run_statement(raw, operation, parameters, False)
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF not in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
            raise
        return None
    finally:
        raw.execute(f"PRAGMA busy_timeout={int(timeout_ms)}")


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor that holds no sqlite3 cursor between calls: each statement is one call on the thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        super().__init__(adapt_connection)

    def _make_new_cursor(self, connection: Any) -> Any:
        return None  # created on the thread, per statement (see _run_statement)

    def _aenter_cursor(self, cursor: Any) -> Any:
        return None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]  # None before any insert, as sqlite3's

    async def _async_soft_close(self) -> None:
        """Nothing to close: the sqlite3 cursor was closed on the thread."""

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._one_hop(operation, parameters, many=False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        try:
            return await_(self._one_hop(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _one_hop(self, operation: Any, parameters: Any, *, many: bool) -> None:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        async with self._adapt_connection._execute_mutex:
            outcome = None
            if INLINE in operation:
                timeout_ms = self._adapt_connection.dbapi.busy_timeout_ms
                outcome = _run_inline(connection._conn, operation, parameters, timeout_ms)
            if outcome is None:
                outcome = await connection._execute(
                    _run_statement, connection._conn, operation, parameters, many
                )
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = collections.deque(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = OneHopCursor

    def _in_transaction(self) -> bool:
        connection: aiosqlite.Connection = self._connection  # type: ignore[assignment]
        return connection._connection is not None and connection.in_transaction

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The DBAPI module given to create_async_engine(module=...) for SQLite (storage/db.py), which sets
    every connection's busy timeout to `busy_timeout_ms` (inline reads put it back to that)."""

    def __init__(self, busy_timeout_ms: int) -> None:
        super().__init__(aiosqlite, sqlite3)
        self.busy_timeout_ms = busy_timeout_ms

    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        adapted = super().connect(*arg, **kw)
        return OneHopConnection(self, adapted._connection)


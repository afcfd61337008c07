"""SQLite through aiosqlite with one thread hop per statement instead of four, and writers that
queue in order instead of sleeping in SQLite's busy handler.

aiosqlite runs every call on its own thread and hands the result back to the event loop, and
SQLAlchemy's adapter makes four such calls per statement (open a cursor, execute, fetch, close).
On this class of machine each hand-over costs about 0.1 ms, so a `SELECT 1` took 0.38 ms and a
request's handful of statements spent more time crossing threads than running SQL (see
bench/README.md). This adapter runs the four steps in one call on aiosqlite's thread, and commit
and rollback cost no hop when sqlite3 has no transaction open (a read-only unit of work).

SQLite has one writer at a time. A connection that finds the write lock taken sleeps in SQLite's
busy handler (1, 2, 5, 10 ... 100 ms) and retries, so under a burst of saves a writer could lose
the race again and again: step saves had a p99 over a second. Here the connections of one process
(request pool and side pool alike) take a first-come, first-served gate per database file before
their first write of a transaction and give it back when the transaction ends, so they wait in
order and without sleeping; other processes still meet the busy handler.

It is passed to SQLAlchemy as the DBAPI module (`create_async_engine(..., module=...)`, a public
option), so the dialect, pooling, transactions and errors stay SQLAlchemy's and aiosqlite's own.
Server-side cursors and executemany keep the stock behaviour.
"""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import Callable
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_only

_Outcome = tuple[Any, list[Any], int, int]  # description, rows, lastrowid, rowcount
# sqlite3 (legacy transaction control) opens a transaction before these, and only these.
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")
_GATE_TIMEOUT_S = 5.0  # as long as the busy timeout (db.SQLITE_BUSY_TIMEOUT_MS)

# One gate per database file and event loop (tests run many loops in one process).
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, asyncio.Lock]] = (
    weakref.WeakKeyDictionary()
)


def _gate_for(database: str) -> asyncio.Lock:
    per_loop = _gates.setdefault(asyncio.get_running_loop(), {})
    return per_loop.setdefault(database, asyncio.Lock())


def _execute_on_worker(connection: sqlite3.Connection, operation: str, parameters: Any) -> _Outcome:
    """Runs on aiosqlite's thread: the whole statement, rows included, in one call."""
    cursor = connection.cursor()
    try:
        cursor.execute(operation, () if parameters is None else parameters)
        if cursor.description:
            return cursor.description, cursor.fetchall(), -1, -1
        return None, [], cursor.lastrowid or 0, cursor.rowcount
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        adapted: OneHopConnection = self._adapt_connection  # type: ignore[assignment]
        connection: Any = self._connection
        try:
            adapted.enter_write_gate_if_writing(operation)
            description, rows, lastrowid, rowcount = self.await_(
                connection._execute(_execute_on_worker, connection._conn, operation, parameters)
            )
        except Exception as error:
            adapted.leave_write_gate_if_done()  # a write refused before it began holds nothing
            adapted._handle_exception(error)
        self.description = description
        self.lastrowid = lastrowid
        self.rowcount = rowcount
        self._rows.clear()
        self._rows.extend(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("_gate", "_holds_gate")

    def __init__(self, dbapi: Any, connection: Any, gate: asyncio.Lock) -> None:
        super().__init__(dbapi, connection)
        self._gate = gate
        self._holds_gate = False

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        return super().cursor(server_side) if server_side else OneHopCursor(self)

    def enter_write_gate_if_writing(self, operation: str) -> None:
        if self._holds_gate or not operation.lstrip()[:7].upper().startswith(_WRITES):
            return
        if self._has_open_transaction():  # writing inside a transaction opened some other way
            return
        try:
            self.await_(asyncio.wait_for(self._gate.acquire(), _GATE_TIMEOUT_S))
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked (waited for this process's writers)") from None
        self._holds_gate = True

    def leave_write_gate_if_done(self) -> None:
        if self._holds_gate and not self._has_open_transaction():
            self._holds_gate = False
            self._gate.release()

    def commit(self) -> None:
        self._end_transaction(super().commit)

    def rollback(self) -> None:
        self._end_transaction(super().rollback)

    def _end_transaction(self, end: Callable[[], None]) -> None:
        """Commit or roll back (only when a transaction is open), then give the writer gate back."""
        try:
            if self._has_open_transaction():
                end()
        finally:
            self.leave_write_gate_if_done()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release_gate()

    def terminate(self) -> None:
        try:
            super().terminate()
        finally:
            self._release_gate()

    def _release_gate(self) -> None:
        if self._holds_gate:
            self._holds_gate = False
            self._gate.release()

    def _has_open_transaction(self) -> bool:
        try:
            return bool(self._connection._conn.in_transaction)
        except ValueError:  # closed: let the stock call raise SQLAlchemy's own error
            return True


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        database = str(arg[0] if arg else kw.get("database", ""))
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy does: never keep the process alive
        return OneHopConnection(self, await_only(connection), _gate_for(database))


def one_hop_dbapi() -> OneHopDBAPI:
    return OneHopDBAPI(aiosqlite, sqlite3)

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
(request pool and side pool alike) take a gate per database file before their first write of a
transaction and give it back when the transaction ends, so they wait without sleeping; other
processes still meet the busy handler. The gate is taken and given back on aiosqlite's threads,
inside the same hand-over as the statement, COMMIT or ROLLBACK: a statement that commits by
itself (an autocommit connection, db.create_autocommit_engine) holds it for that statement only,
and a waiting writer goes on the moment it is free, not when the busy event loop next gets round
to it (under load, a gate held across event-loop turns was the bottleneck of every audited read).

It is passed to SQLAlchemy as the DBAPI module (`create_async_engine(..., module=...)`, a public
option), so the dialect, pooling, transactions and errors stay SQLAlchemy's and aiosqlite's own.
Server-side cursors and executemany keep the stock behaviour.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from functools import partial
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


class WriterGate:
    """The writers' turn for one database file: taken on a connection's worker thread before the
    first write of its transaction, given back there when no transaction is open any more."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._holder: sqlite3.Connection | None = None
        # The holder check and the release are one step: two threads may end one connection (its
        # worker finishing a statement whose caller was cancelled, and the event loop closing it).
        self._guard = threading.Lock()

    def locked(self) -> bool:
        return self._lock.locked()

    def enter_if_writing(self, connection: sqlite3.Connection, operation: str) -> None:
        if self._holder is connection or not operation.lstrip()[:7].upper().startswith(_WRITES):
            return
        if connection.in_transaction:  # writing inside a transaction opened some other way
            return
        if not self._lock.acquire(timeout=_GATE_TIMEOUT_S):
            raise sqlite3.OperationalError("database is locked (waited for this process's writers)")
        with self._guard:
            self._holder = connection

    def leave_if_done(self, connection: sqlite3.Connection) -> None:
        with self._guard:
            if self._holder is connection and not _in_transaction(connection):
                self._release()

    def abandon(self, connection: sqlite3.Connection) -> None:
        """The connection is going away: its turn ends whatever it left open (SQLite rolls that
        back when the connection closes)."""
        with self._guard:
            if self._holder is connection:
                self._release()

    def _release(self) -> None:
        self._holder = None
        self._lock.release()


def _in_transaction(connection: sqlite3.Connection) -> bool:
    try:
        return connection.in_transaction
    except sqlite3.ProgrammingError:  # closed: whatever was open is gone
        return False


# One gate per database file in this process, as SQLite's own lock is one per file: every engine
# and event loop of the process (a delivery worker's threads too) takes turns at the same gate.
_gates: dict[str, WriterGate] = {}
_gates_guard = threading.Lock()


def _gate_for(database: str) -> WriterGate:
    with _gates_guard:
        return _gates.setdefault(database, WriterGate())


def _execute_on_worker(
    connection: sqlite3.Connection, gate: WriterGate, operation: str, parameters: Any
) -> _Outcome:
    """Runs on aiosqlite's thread: the whole statement, rows included, in one call."""
    gate.enter_if_writing(connection, operation)
    try:
        cursor = connection.cursor()
        try:
            cursor.execute(operation, () if parameters is None else parameters)
            if cursor.description:
                return cursor.description, cursor.fetchall(), -1, -1
            return None, [], cursor.lastrowid or 0, cursor.rowcount
        finally:
            cursor.close()
    finally:
        gate.leave_if_done(connection)  # a statement that committed itself, or a write refused


def _end_on_worker(connection: sqlite3.Connection, gate: WriterGate, end: Callable[[], None]) -> None:
    try:
        end()
    finally:
        gate.leave_if_done(connection)


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        adapted: OneHopConnection = self._adapt_connection  # type: ignore[assignment]
        connection: Any = self._connection
        try:
            description, rows, lastrowid, rowcount = self.await_(
                connection._execute(_execute_on_worker, connection._conn, adapted.gate, operation, parameters)
            )
        except Exception as error:
            adapted._handle_exception(error)
        self.description = description
        self.lastrowid = lastrowid
        self.rowcount = rowcount
        self._rows.clear()
        self._rows.extend(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ("gate",)

    def __init__(self, dbapi: Any, connection: Any, gate: WriterGate) -> None:
        super().__init__(dbapi, connection)
        self.gate = gate

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        return super().cursor(server_side) if server_side else OneHopCursor(self)

    def commit(self) -> None:
        self._end_transaction("commit")

    def rollback(self) -> None:
        self._end_transaction("rollback")

    def _end_transaction(self, name: str) -> None:
        """Commit or roll back, and give the writer gate back, in one hand-over; none at all when
        sqlite3 has no transaction open (a read-only unit of work)."""
        raw = self._raw()
        if raw is None:  # closed: the stock call raises SQLAlchemy's own error
            getattr(super(), name)()
            return
        if not _in_transaction(raw):
            self.gate.leave_if_done(raw)
            return
        try:
            self.await_(self._connection._execute(_end_on_worker, raw, self.gate, getattr(raw, name)))
        except Exception as error:
            self._handle_exception(error)

    def close(self) -> None:
        self._ending(super().close)

    def terminate(self) -> None:
        self._ending(super().terminate)

    def _ending(self, end: Callable[[], None]) -> None:
        """Close or terminate; the gate is given back even if this connection still held it. A
        terminate only queues the close, and a statement whose caller was cancelled may still be
        queued or running: the worker gives the turn back after it, and the event loop now too."""
        raw = self._raw()
        if raw is not None:
            self._connection._tx.put_nowait((None, partial(self.gate.abandon, raw)))
        try:
            end()
        finally:
            if raw is not None:
                self.gate.abandon(raw)

    def _raw(self) -> sqlite3.Connection | None:
        try:
            return self._connection._conn
        except ValueError:  # aiosqlite's connection is closed
            return None


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        database = str(arg[0] if arg else kw.get("database", ""))
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy does: never keep the process alive
        return OneHopConnection(self, await_only(connection), _gate_for(database))


def one_hop_dbapi() -> OneHopDBAPI:
    return OneHopDBAPI(aiosqlite, sqlite3)

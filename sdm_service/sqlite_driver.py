"""SQLite through aiosqlite with one thread hop per statement instead of four.

aiosqlite runs every call on its own thread and hands the result back to the event loop, and
SQLAlchemy's adapter makes four such calls per statement (open a cursor, execute, fetch, close).
On this class of machine each hand-over costs about 0.1 ms, so a `SELECT 1` took 0.38 ms and a
request's handful of statements spent more time crossing threads than running SQL (see
bench/README.md). This adapter runs the four steps in one call on aiosqlite's thread.

It is passed to SQLAlchemy as the DBAPI module (`create_async_engine(..., module=...)`, a public
option), so the dialect, pooling, transactions and errors stay SQLAlchemy's and aiosqlite's own.
Commit and rollback cost no hop when sqlite3 has no transaction open. Server-side cursors and
executemany keep the stock behaviour.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util.concurrency import await_only

_Outcome = tuple[Any, list[Any], int, int]  # description, rows, lastrowid, rowcount


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
        connection: Any = self._connection
        try:
            description, rows, lastrowid, rowcount = self.await_(
                connection._execute(_execute_on_worker, connection._conn, operation, parameters)
            )
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self.description = description
        self.lastrowid = lastrowid
        self.rowcount = rowcount
        self._rows.clear()
        self._rows.extend(rows)


class OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    def cursor(self, server_side: bool = False) -> AsyncAdapt_aiosqlite_cursor:
        return super().cursor(server_side) if server_side else OneHopCursor(self)

    # sqlite3 opens a transaction only at the first write, so after a read-only unit of work (most
    # page views) there is nothing to commit or roll back: skip the thread hand-over for it.
    def commit(self) -> None:
        if self._has_open_transaction():
            super().commit()

    def rollback(self) -> None:
        if self._has_open_transaction():
            super().rollback()

    def _has_open_transaction(self) -> bool:
        try:
            return bool(self._connection._conn.in_transaction)
        except ValueError:  # closed: let the stock call raise SQLAlchemy's own error
            return True


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneHopConnection:
        connection = self.aiosqlite.connect(*arg, **kw)
        connection._thread.daemon = True  # as SQLAlchemy does: never keep the process alive
        return OneHopConnection(self, await_only(connection))


def one_hop_dbapi() -> OneHopDBAPI:
    return OneHopDBAPI(aiosqlite, sqlite3)

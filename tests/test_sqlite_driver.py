"""The one-hop SQLite adapter keeps the DBAPI contract SQLAlchemy relies on: rows, rowcount,
lastrowid, errors mapped to SQLAlchemy's exceptions, and transactions that commit or roll back."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.util import greenlet_spawn

from sdm_service import sqlite_driver
from sdm_service.db import create_autocommit_engine, create_engine
from sdm_service.settings import load_settings
from sdm_service.sqlite_driver import OneHopCursor


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'driver.db'}")
    engine = create_engine(settings)
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)"))
    yield engine
    await engine.dispose()


async def test_statements_go_through_the_one_hop_cursor(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        assert isinstance(raw.dbapi_connection.cursor(), OneHopCursor)  # type: ignore[union-attr]


async def test_rows_rowcount_and_lastrowid(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert inserted.lastrowid == 1
        await connection.execute(text("INSERT INTO t (name) VALUES (:n)"), [{"n": "b"}, {"n": "c"}])
        updated = await connection.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
        assert updated.rowcount == 2
        rows = (await connection.execute(text("SELECT id, name FROM t ORDER BY id"))).all()
        assert [tuple(r) for r in rows] == [(1, "a"), (2, "b!"), (3, "c!")]
        returned = (await connection.execute(text("DELETE FROM t WHERE id = 3 RETURNING name"))).all()
        assert [tuple(r) for r in returned] == [("c!",)]
        assert (await connection.execute(text("SELECT count(*) FROM t WHERE id > 99"))).scalar_one() == 0


async def test_errors_are_sqlalchemy_errors_and_roll_back(engine: AsyncEngine) -> None:
    async with engine.connect() as connection:
        await connection.execute(text("INSERT INTO t (name) VALUES ('same')"))
        with pytest.raises(IntegrityError):
            await connection.execute(text("INSERT INTO t (name) VALUES ('same')"))
        await connection.rollback()
        with pytest.raises(OperationalError, match="no such table"):
            await connection.execute(text("SELECT * FROM missing"))
    async with engine.connect() as connection:
        # The rolled-back transaction left nothing behind, and the pool's connection works again.
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_commit_costs_a_hand_over_only_after_a_write(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    ended: list[str] = []
    real_end = sqlite_driver._end_on_worker

    def end_on_worker(connection: Any, gate: sqlite_driver.WriterGate, end: Callable[[], None]) -> None:
        ended.append(end.__name__)  # runs on aiosqlite's thread: one hand-over each
        real_end(connection, gate, end)

    monkeypatch.setattr(sqlite_driver, "_end_on_worker", end_on_worker)
    async with AsyncSession(engine) as session:
        await session.execute(text("SELECT count(*) FROM t"))
        await session.commit()
    assert ended == []  # a read-only unit of work: nothing to end, and the pool reset skips it too
    async with AsyncSession(engine) as session:
        await session.execute(text("INSERT INTO t (name) VALUES ('kept')"))
        await session.commit()
    assert ended == ["commit"]
    async with AsyncSession(engine) as session:
        await session.execute(text("INSERT INTO t (name) VALUES ('dropped')"))
        await session.rollback()
    assert ended == ["commit", "rollback"]
    async with engine.connect() as connection:  # another connection sees exactly the committed row
        names = (await connection.execute(text("SELECT name FROM t"))).scalars().all()
    assert names == ["kept"]


def _gate(engine: AsyncEngine) -> sqlite_driver.WriterGate:
    database = engine.url.database or ""
    return sqlite_driver._gate_for(database)


async def test_writers_of_one_process_take_turns_at_the_gate(engine: AsyncEngine) -> None:
    """The second writer waits at the gate, not in SQLite's sleeping busy handler, and goes as
    soon as the first commits; reads never wait."""
    gate = _gate(engine)
    order: list[str] = []
    first_is_writing = asyncio.Event()

    async def first() -> None:
        async with AsyncSession(engine) as session:
            await session.execute(text("INSERT INTO t (name) VALUES ('first')"))
            first_is_writing.set()
            await asyncio.sleep(0.05)  # the transaction stays open meanwhile
            assert gate.locked()
            async with AsyncSession(engine) as reader:  # reads pass while a write is open
                assert (await reader.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
            order.append("first commits")
            await session.commit()

    async def second() -> None:
        await first_is_writing.wait()
        async with AsyncSession(engine) as session:
            await session.execute(text("INSERT INTO t (name) VALUES ('second')"))
            order.append("second wrote")
            await session.commit()

    await asyncio.gather(first(), second())
    assert order == ["first commits", "second wrote"]
    assert not gate.locked()


async def test_a_failed_or_abandoned_write_gives_the_gate_back(engine: AsyncEngine) -> None:
    gate = _gate(engine)
    async with AsyncSession(engine) as session:
        await session.execute(text("INSERT INTO t (name) VALUES ('x')"))
        with pytest.raises(IntegrityError):
            await session.execute(text("INSERT INTO t (name) VALUES ('x')"))
        assert gate.locked()  # the transaction is still open until rolled back
        await session.rollback()
    assert not gate.locked()
    async with AsyncSession(engine) as session:  # closed without commit or rollback
        await session.execute(text("INSERT INTO t (name) VALUES ('y')"))
        assert gate.locked()
    assert not gate.locked()
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0


async def test_a_statement_on_an_autocommit_connection_commits_and_frees_the_gate_by_itself(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """db.create_autocommit_engine on SQLite: the INSERT and its commit are one hand-over, and the
    writer gate is free again as soon as the statement is done (no COMMIT to wait for)."""
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'driver.db'}")
    autocommit = create_autocommit_engine(settings, engine)
    assert autocommit is not engine
    gate = _gate(engine)
    try:
        async with autocommit.connect() as connection:
            await connection.execute(text("INSERT INTO t (name) VALUES ('at once')"))
            assert not gate.locked()
            async with engine.connect() as other:  # committed: another connection sees it now
                assert (await other.execute(text("SELECT name FROM t"))).scalars().all() == ["at once"]
            with pytest.raises(IntegrityError):
                await connection.execute(text("INSERT INTO t (name) VALUES ('at once')"))
            assert not gate.locked()  # a refused statement holds nothing either
    finally:
        await autocommit.dispose()


async def test_a_connection_dropped_in_the_middle_of_a_write_gives_the_gate_back(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """A connection terminated while its transaction holds the gate (garbage collected, or
    cancelled while closing: its close is only queued) must not keep every later writer waiting."""
    gate = _gate(engine)
    dropped = await greenlet_spawn(sqlite_driver.one_hop_dbapi().connect, str(tmp_path / "driver.db"))
    await greenlet_spawn(dropped.cursor().execute, "INSERT INTO t (name) VALUES ('lost')")
    assert gate.locked()
    dropped.terminate()  # outside a greenlet, as at garbage collection
    assert not gate.locked()
    async with engine.begin() as connection:  # the next writer goes on at once
        await connection.execute(text("INSERT INTO t (name) VALUES ('next')"))
    async with engine.connect() as connection:
        names = (await connection.execute(text("SELECT name FROM t"))).scalars().all()
    assert names == ["next"]  # what the dropped connection left open was rolled back


def test_a_turn_is_given_back_once_when_two_threads_end_it() -> None:
    """The worker finishing a cancelled caller's statement and the event loop closing the
    connection may both end its turn: the gate is released once, and stays usable."""
    gate = sqlite_driver.WriterGate()
    connection = sqlite3.connect(":memory:", isolation_level=None)
    try:
        gate.enter_if_writing(connection, "INSERT INTO x VALUES (1)")
        assert gate.locked()
        gate.abandon(connection)
        gate.leave_if_done(connection)  # the other thread, a moment later: nothing left to give
        gate.abandon(connection)
        assert not gate.locked()
        gate.enter_if_writing(connection, "INSERT INTO x VALUES (2)")
        assert gate.locked()
    finally:
        connection.close()

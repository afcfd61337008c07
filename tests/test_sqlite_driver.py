"""The one-hop SQLite adapter keeps the DBAPI contract SQLAlchemy relies on: rows, rowcount,
lastrowid, errors mapped to SQLAlchemy's exceptions, and transactions that commit or roll back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sdm_service import sqlite_driver
from sdm_service.db import create_engine
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
    real_commit, real_rollback = aiosqlite.Connection.commit, aiosqlite.Connection.rollback

    async def commit(self: aiosqlite.Connection) -> None:
        ended.append("commit")
        await real_commit(self)

    async def rollback(self: aiosqlite.Connection) -> None:
        ended.append("rollback")
        await real_rollback(self)

    monkeypatch.setattr(aiosqlite.Connection, "commit", commit)
    monkeypatch.setattr(aiosqlite.Connection, "rollback", rollback)
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


def _gate(engine: AsyncEngine) -> asyncio.Lock:
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

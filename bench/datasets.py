"""The data sets the HTTP rows run on: fresh SQLite files, or scratch PostgreSQL databases created
in the admin URL's server and dropped afterwards, also on failure."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from bench.options import Options
from bench.rows import DataSets, log
from bench.seed import seed_database


async def _postgres_admin(admin_url: str, sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(
        admin_url.replace("postgresql+asyncpg://", "postgresql://"), timeout=10
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def postgres_databases(admin_url: str, names: list[str]) -> Iterator[list[str]]:
    base = admin_url.rpartition("/")[0]
    created: list[str] = []
    try:
        for name in names:
            asyncio.run(_postgres_admin(admin_url, f'CREATE DATABASE "{name}"'))
            created.append(name)
        yield [f"{base}/{name}" for name in names]
    finally:
        for name in created:
            with suppress(Exception):
                asyncio.run(_postgres_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _remove_sqlite(url: str) -> None:
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        for suffix in ("", "-wal", "-shm"):
            Path(path + suffix).unlink(missing_ok=True)


def make_data_sets(label: str, large_url: str, small_url: str, opts: Options, responses: int) -> DataSets:
    for url in (large_url, small_url):
        _remove_sqlite(url)  # always a fresh data set
    log(f"{label}: seeding {responses:,} + {opts.small_responses:,} responses")
    sessions = max(opts.sessions, opts.connections)  # shared by the server runs (lock re-read each run)
    large = asyncio.run(seed_database(large_url, responses, patient_sessions=sessions))
    small = asyncio.run(seed_database(small_url, opts.small_responses))
    log(f"{label}: seeded in {large.seconds:.1f}s + {small.seconds:.1f}s")
    return DataSets(label, large_url, small_url, large, small)

"""Realistic data for the benchmark: N patients' responses, bulk-inserted through SQLAlchemy core.

    python -m bench.seed --url sqlite:///var/bench.db --responses 100000

The database is migrated to head first. Answers are drawn at random (fixed seed) from the real
questionnaire, honouring its conditions; completed and reviewed responses carry a stored summary
snapshot built by the real decision engine (then given each row's own id, patient and dates).
A few hundred distinct answer sets and summaries are built and reused, so 100,000 rows take
under a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlalchemy import JSON, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine
from sqlalchemy.sql.elements import Null

from bench.answers import SLUG, patient_session_rows, response_rows
from sdm_service import migrate
from sdm_service.content import load_library
from sdm_service.models import (
    ApiClient,
    PatientResponse,
    QuestionnaireVersion,
    ResponseStatus,
    Review,
    Role,
    User,
)
from sdm_service.security import hash_password, hash_token, new_token
from sdm_service.settings import PROJECT_ROOT, normalise_database_url

BATCH_ROWS = 5000
KEEP_COMPLETED_IDS = 64
BENCH_CLINICIAN = "bench-clinician"
API_SCOPES = "invitations:write responses:read responses:write"


@dataclass(frozen=True)
class SeedResult:
    responses: int
    seconds: float
    completed_response_ids: tuple[str, ...]  # completed responses with a stored summary, for read rows
    clinician_username: str
    clinician_password: str
    api_token: str
    # Raw resume tokens of in-progress responses waiting at the priorities step (patients who
    # come back to finish): the harness opens them with the patient cookie, as a browser would.
    patient_tokens: tuple[str, ...] = ()


# ---------------------------------------------------------------- database


async def _insert_batches(
    connection: AsyncConnection, table: Any, rows: Iterator[dict[str, Any]], batch: int = BATCH_ROWS
) -> int:
    if connection.dialect.name == "postgresql":
        return await _copy_batches(connection, table, rows, batch)
    total = 0
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= batch:
            await connection.execute(insert(table), chunk)
            total += len(chunk)
            chunk = []
    if chunk:
        await connection.execute(insert(table), chunk)
        total += len(chunk)
    return total


def _copy_value(value: Any, is_json: bool) -> Any:
    if value is None or isinstance(value, Null):
        return None  # SQL NULL
    return msgspec.json.encode(value).decode() if is_json else value


async def _copy_batches(
    connection: AsyncConnection, table: Any, rows: Iterator[dict[str, Any]], batch: int
) -> int:
    """PostgreSQL: COPY (binary) through the driver's own connection, in the same transaction; a
    million rows of about 16 KB take minutes rather than the hours row-by-row inserts would."""
    raw = (await connection.get_raw_connection()).driver_connection
    total = 0
    columns: list[str] = []
    json_columns: list[bool] = []
    chunk: list[tuple[Any, ...]] = []

    async def flush() -> None:
        nonlocal total, chunk
        if chunk:
            await raw.copy_records_to_table(table.name, records=chunk, columns=columns)  # type: ignore[union-attr]
            total += len(chunk)
            chunk = []

    for row in rows:
        if not columns:
            columns = list(row)
            json_columns = [isinstance(table.c[name].type, JSON) for name in columns]
        chunk.append(tuple(_copy_value(row[name], j) for name, j in zip(columns, json_columns, strict=True)))
        if len(chunk) >= batch:
            await flush()
    await flush()
    return total


async def seed_database(
    url: str, responses: int, *, seed: int = 8, migrate_first: bool = True, patient_sessions: int = 0
) -> SeedResult:
    """Migrate `url` and fill it; returns what the benchmark needs to sign in and read."""
    started = time.perf_counter()
    url = normalise_database_url(url)
    if migrate_first:
        await asyncio.to_thread(migrate.upgrade, url, configure_logging=False)
    content = load_library(PROJECT_ROOT / "questionnaires").get(SLUG)
    engine = create_async_engine(url)
    password = new_token()
    api_token = new_token()
    now = datetime.now(UTC)
    completed_ids: list[str] = []
    try:
        async with engine.begin() as connection:
            if url.startswith("sqlite"):
                await connection.execute(text("PRAGMA synchronous=OFF"))
            clinician_id = uuid.uuid4()
            await connection.execute(
                insert(User.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "id": clinician_id,
                        "username": BENCH_CLINICIAN,
                        "display_name": "Benchmark Clinician",
                        "password_hash": hash_password(password),
                        "role": Role.CLINICIAN,
                        "is_active": True,
                        "created_at": now,
                        "deactivated_at": None,
                    }
                ],
            )
            await connection.execute(
                insert(ApiClient.__table__),  # type: ignore[attr-defined]
                [
                    {
                        "id": uuid.uuid4(),
                        "name": "bench-ehr",
                        "token_hash": hash_token(api_token),
                        "token_prefix": api_token[:8],
                        "scopes": API_SCOPES,
                        "created_at": now,
                        "revoked_at": None,
                        "last_used_at": None,
                    }
                ],
            )
            versions = QuestionnaireVersion.__table__  # type: ignore[attr-defined]
            existing = await connection.execute(
                select(versions.c.id).where(
                    versions.c.slug == content.slug, versions.c.version == content.version
                )
            )
            if existing.first() is None:
                await connection.execute(
                    insert(versions),
                    [
                        {
                            "slug": content.slug,
                            "version": content.version,
                            "content_hash": content.content_hash,
                            "definition": content.definition(),
                            "created_at": now,
                        }
                    ],
                )
            reviews: list[dict[str, Any]] = []

            def rows() -> Iterator[dict[str, Any]]:
                for row, status in response_rows(content, responses, seed=seed, now=now):
                    if status == ResponseStatus.COMPLETED and len(completed_ids) < KEEP_COMPLETED_IDS:
                        completed_ids.append(str(row["id"]))
                    if status == ResponseStatus.REVIEWED:
                        reviews.append(
                            {
                                "id": uuid.uuid4(),
                                "response_id": row["id"],
                                "reviewer_id": clinician_id,
                                "note": "Discussed at the consult.",
                                "created_at": row["reviewed_at"],
                            }
                        )
                    yield row

            count = await _insert_batches(connection, PatientResponse.__table__, rows())  # type: ignore[attr-defined]
            patient_tokens = [new_token() for _ in range(patient_sessions)]
            if patient_tokens:
                await connection.execute(
                    insert(PatientResponse.__table__),  # type: ignore[attr-defined]
                    patient_session_rows(content, patient_tokens, now=now),
                )
            await _insert_batches(connection, Review.__table__, iter(reviews))  # type: ignore[attr-defined]
        # Fresh planner statistics, as a live database has; on PostgreSQL also the visibility map
        # autovacuum keeps, without which no index-only scan is used (e.g. for the pager's count).
        async with engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            postgres = engine.dialect.name == "postgresql"
            await autocommit.execute(text("VACUUM ANALYZE" if postgres else "ANALYZE"))
    finally:
        await engine.dispose()
    return SeedResult(
        responses=count,
        seconds=time.perf_counter() - started,
        completed_response_ids=tuple(completed_ids),
        patient_tokens=tuple(patient_tokens),
        clinician_username=BENCH_CLINICIAN,
        clinician_password=password,
        api_token=api_token,
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.seed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="sqlite:///path or postgresql://... (an empty database)")
    parser.add_argument("--responses", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=8)
    args = parser.parse_args(argv)
    result = asyncio.run(seed_database(args.url, args.responses, seed=args.seed))
    print(f"seeded {result.responses} responses in {result.seconds:.1f}s")
    print(f"clinician: {result.clinician_username} / {result.clinician_password}")
    print(f"api token: {result.api_token}")


if __name__ == "__main__":
    main()

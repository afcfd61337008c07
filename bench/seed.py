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
import hashlib
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import insert, null, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, create_async_engine

from sdm_service import migrate
from sdm_service.content import Content, load_library
from sdm_service.content.logic import enabled_answers, is_enabled
from sdm_service.content.schema import Item, Questionnaire
from sdm_service.decision import build_summary
from sdm_service.decision.snapshot import PatientInfo
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

SLUG = "iort-sdm"
BATCH_ROWS = 5000
DISTINCT_ANSWER_SETS = 300
KEEP_COMPLETED_IDS = 64
TARGET_CHOICE_ITEMS = 6
# Share of each status in a clinic's worklist (invited links not opened yet, half-done, done, reviewed).
STATUS_MIX = (
    (ResponseStatus.INVITED, 0.05),
    (ResponseStatus.IN_PROGRESS, 0.25),
    (ResponseStatus.COMPLETED, 0.50),
    (ResponseStatus.REVIEWED, 0.20),
)
FIRST_NAMES = ("Maria", "James", "Aisha", "Chen", "Olga", "Luis", "Fatima", "Peter", "Grace", "Tomas")
LAST_NAMES = ("Nunez", "Okafor", "Smith", "Ivanova", "Kim", "Garcia", "Haddad", "Muller", "Brown", "Sato")
BENCH_CLINICIAN = "bench-clinician"
CLINIC_NAME = "Riverside Cancer Center"
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


# ---------------------------------------------------------------- answers and summaries


def _random_value(item: Item, rng: random.Random, today: date) -> Any:
    codes = item.option_codes()
    if item.type == "multiple_choice":
        return [code for code in codes if rng.random() < 0.35] or [codes[0]]
    if item.type == "date":
        window = item.date_range
        low, high = (window.min_days, window.max_days) if window else (-30, 120)
        return (today + timedelta(days=rng.randint(max(low, 1), max(min(high, 120), 1)))).isoformat()
    if item.type == "text":
        return rng.choice(
            (
                "How long does recovery take?",
                "Can my partner come with me on the day of surgery?",
                "Will I need to take time off work after IORT?",
            )
        )
    return rng.choice(codes)


def random_answers(questionnaire: Questionnaire, rng: random.Random, *, today: date) -> dict[str, Any]:
    """A full answer set the questionnaire accepts: conditions honoured, document order."""
    answers: dict[str, Any] = {}
    for item in questionnaire.items():
        if not item.answerable or not is_enabled(item, answers):
            continue
        if not item.required and rng.random() < 0.3:
            continue
        answers[item.id] = _random_value(item, rng, today)
    return enabled_answers(questionnaire, answers)


def build_summary_json(content: Content, answers: dict[str, Any], meta: dict[str, Any]) -> dict[str, Any]:
    """The stored snapshot, computed by the real decision engine, as JSON."""
    snapshot = build_summary(
        content,
        answers,
        response_id=meta["response_id"],
        completed_at=datetime.fromisoformat(meta["completed_at"]),
        patient=PatientInfo(name=meta["patient_name"]),
        consult_date=date.fromisoformat(meta["consult_date"]) if meta["consult_date"] else None,
        clinic_name=CLINIC_NAME,
    )
    return dict(snapshot.model_dump(mode="json"))


# ---------------------------------------------------------------- rows


def _pick_status(rng: random.Random) -> str:
    roll = rng.random()
    for status, share in STATUS_MIX:
        roll -= share
        if roll < 0:
            return status
    return STATUS_MIX[-1][0]


def response_rows(
    content: Content, count: int, *, seed: int = 8, now: datetime | None = None
) -> Iterator[tuple[dict[str, Any], str]]:
    """(row for the responses table, status) for `count` responses, deterministic for a seed."""
    now = now or datetime.now(UTC)
    today = now.date()
    rng = random.Random(seed)
    answer_sets = [
        random_answers(content.questionnaire, rng, today=today) for _ in range(DISTINCT_ANSWER_SETS)
    ]
    summaries: dict[int, dict[str, Any]] = {}
    for index in range(count):
        status = _pick_status(rng)
        set_index = rng.randrange(DISTINCT_ANSWER_SETS)
        answers = answer_sets[set_index]
        response_id = uuid.UUID(int=rng.getrandbits(128), version=4)
        created = now - timedelta(days=rng.uniform(0, 400))
        updated = created + timedelta(hours=rng.uniform(0, 48))
        # Most patients fill it in one to twelve weeks before their consult.
        consult = (created + timedelta(days=rng.randint(7, 84))).date() if rng.random() < 0.85 else None
        answers = dict(answers)
        if consult is None:
            answers.pop("consult_date", None)
        elif "consult_date" in answers:
            answers["consult_date"] = consult.isoformat()
        name = f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"
        row: dict[str, Any] = {
            "id": response_id,
            "questionnaire_slug": content.slug,
            "questionnaire_version": content.version,
            "status": status,
            "source": "web" if rng.random() < 0.9 else "api",
            "patient_system": "urn:oid:2.16.840.1.113883.3.999",
            "patient_value": f"MRN{index:08d}",
            "patient_name": name,
            "consult_date": consult,
            "invitation_id": None,
            "resume_token_hash": hashlib.sha256(response_id.bytes).hexdigest(),
            "current_step": 0,
            "answers": {},
            "summary": null(),  # SQL NULL, as the ORM writes it (not the JSON text 'null')
            "conflict_score": None,
            "conflict_flag": False,
            "top_priority": None,
            "created_at": created,
            "updated_at": updated,
            "completed_at": None,
            "reviewed_at": None,
            "lock_version": 1,
        }
        if status == ResponseStatus.IN_PROGRESS:
            steps = len(content.questionnaire.steps)
            row["current_step"] = rng.randrange(1, steps)
            keep = {
                item.id for step in content.questionnaire.steps[: row["current_step"]] for item in step.items
            }
            row["answers"] = {key: value for key, value in answers.items() if key in keep}
        elif status in (ResponseStatus.COMPLETED, ResponseStatus.REVIEWED):
            row["answers"] = answers
            row["completed_at"] = updated
            if status == ResponseStatus.REVIEWED:
                row["reviewed_at"] = updated + timedelta(days=1)
                row["updated_at"] = row["reviewed_at"]
            if set_index not in summaries:
                summaries[set_index] = build_summary_json(
                    content,
                    answers,
                    {
                        "response_id": str(response_id),
                        "completed_at": updated.isoformat(),
                        "consult_date": consult.isoformat() if consult else None,
                        "patient_name": name,
                    },
                )
            summary = dict(summaries[set_index])
            summary.update(
                response_id=str(response_id),
                completed_at=updated.isoformat(),
                consult_date=consult.isoformat() if consult else None,
                patient={"name": name, "identifier_system": None, "identifier_value": None},
            )
            row["summary"] = summary
            conflict = summary.get("conflict") or {}
            row["conflict_score"] = conflict.get("score")
            row["conflict_flag"] = bool(conflict.get("flagged"))
            row["top_priority"] = summary.get("most_important")
        yield row, status


# ---------------------------------------------------------------- database


async def _insert_batches(
    connection: AsyncConnection, table: Any, rows: Iterator[dict[str, Any]], batch: int = BATCH_ROWS
) -> int:
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


def target_step_index(questionnaire: Questionnaire) -> int:
    """The priorities step: the first with TARGET_CHOICE_ITEMS choice questions."""
    for index, step in enumerate(questionnaire.steps):
        choices = [item for item in step.items if item.type in ("single_choice", "importance")]
        if len(choices) >= TARGET_CHOICE_ITEMS:
            return index
    raise ValueError("no step with enough choice questions to benchmark")


def patient_session_rows(
    content: Content, tokens: list[str], *, now: datetime, seed: int = 9
) -> list[dict[str, Any]]:
    """In-progress responses that reached the priorities step, one per raw resume token."""
    rng = random.Random(seed)
    questionnaire = content.questionnaire
    step = target_step_index(questionnaire)
    earlier = {item.id for s in questionnaire.steps[:step] for item in s.items}
    rows = []
    for token in tokens:
        answers = random_answers(questionnaire, rng, today=now.date())
        rows.append(
            {
                "id": uuid.uuid4(),
                "questionnaire_slug": content.slug,
                "questionnaire_version": content.version,
                "status": ResponseStatus.IN_PROGRESS,
                "source": "web",
                "patient_system": "",
                "patient_value": "",
                "patient_name": "",
                "consult_date": None,
                "invitation_id": None,
                "resume_token_hash": hash_token(token),
                "current_step": step,
                "answers": {key: value for key, value in answers.items() if key in earlier},
                "summary": null(),
                "conflict_score": None,
                "conflict_flag": False,
                "top_priority": None,
                "created_at": now,
                "updated_at": now,
                "completed_at": None,
                "reviewed_at": None,
                "lock_version": 1,
            }
        )
    return rows


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

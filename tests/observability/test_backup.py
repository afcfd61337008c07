"""`sdm db backup`: taken while patients answer on a running server, the copy is consistent (its
audit chain verifies, every stored answer is one the patient sent) and, once the answering stops,
a backup restores to exactly the records `sdm export` gives of the live database. PostgreSQL:
the guidance, and a pg_dump restored into an empty database exports the same records."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from sdm_service.content import load_library
from sdm_service.settings import PROJECT_ROOT
from tests.conftest import TEST_SECRET, create_postgres_database, drop_postgres_database
from tests.observability.conftest import SDM, OpsServer
from tests.reliability.live import Patient, complete_questionnaire

PATIENTS = 6


def sdm(database_url: str, *arguments: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": str(SDM.parent) + ":/usr/bin:/bin",
        "SDM_DATABASE_URL": database_url,
        "SDM_ENV": "test",
        "SDM_SECRET_KEY": TEST_SECRET,
        "SDM_BASE_URL": "http://testserver.local",
    }
    result = subprocess.run([str(SDM), *arguments], env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def exported_tables(database_url: str, out: Path) -> dict[str, str]:
    """`sdm export`'s table files (the manifest carries the time of the export, so it differs)."""
    sdm(database_url, "export", "--out", str(out))
    return {path.name: path.read_text() for path in sorted((out / "tables").iterdir())}


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_a_backup_while_patients_answer_is_consistent_and_a_quiet_one_restores_exactly(
    ops_server: OpsServer, tmp_path: Path
) -> None:
    live_file = Path(ops_server.database_url.split(":///", 1)[1])
    content = load_library(PROJECT_ROOT / "questionnaires").get("iort-sdm")
    during = tmp_path / "during.db"

    async def answer_while_backing_up() -> list[Patient]:
        first_done = asyncio.Event()
        patients = [Patient(number=100 + n) for n in range(PATIENTS)]
        answering = [
            asyncio.create_task(complete_questionnaire(ops_server, content, p, on_ack=first_done))  # type: ignore[arg-type]
            for p in patients
        ]
        await first_done.wait()  # the others are still answering
        await asyncio.to_thread(sdm, sqlite_url(live_file), "db", "backup", str(during))
        return list(await asyncio.gather(*answering))

    patients = asyncio.run(answer_while_backing_up())
    assert all(p.completed for p in patients), [p.stopped_by for p in patients]

    # The copy taken mid-way is one consistent moment.
    assert during.stat().st_mode & 0o077 == 0  # as private as the database
    with sqlite3.connect(during) as copy:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        stored = copy.execute("SELECT answers FROM responses").fetchall()
    assert "intact" in sdm(sqlite_url(during), "audit", "verify").stdout
    import json

    sent = [p.sent_answers for p in patients]
    for (answers_json,) in stored:
        answers: dict[str, Any] = json.loads(answers_json)
        assert any(all(final.get(k) == v for k, v in answers.items()) for final in sent), answers

    # Once the answering stops, a backup restores to the same records the live database exports.
    quiet = tmp_path / "quiet.db"
    sdm(sqlite_url(live_file), "db", "backup", str(quiet))
    live_tables = exported_tables(sqlite_url(live_file), tmp_path / "live-export")
    restored = tmp_path / "restored" / "sdm.db"
    restored.parent.mkdir()
    shutil.copyfile(quiet, restored)  # restoring a SQLite backup: put the file in place
    assert exported_tables(sqlite_url(restored), tmp_path / "restored-export") == live_tables
    assert sum(1 for line in live_tables["responses.json"].splitlines() if line.strip()) >= PATIENTS


def test_backup_refuses_to_overwrite_and_explains_pg_dump_for_postgresql(
    tmp_path: Path, ops_server: OpsServer
) -> None:
    live_file = Path(ops_server.database_url.split(":///", 1)[1])
    target = tmp_path / "exists.db"
    target.write_text("keep me")
    refused = sdm(sqlite_url(live_file), "db", "backup", str(target), check=False)
    assert refused.returncode == 1
    assert "already exists" in refused.stderr
    assert target.read_text() == "keep me"

    guidance = sdm("postgresql://sdm@db:5432/sdm", "db", "backup", str(tmp_path / "x.db"), check=False)
    assert guidance.returncode == 1
    assert "pg_dump --format=custom" in guidance.stdout
    assert "pg_restore" in guidance.stdout
    assert not (tmp_path / "x.db").exists()


@pytest.mark.postgres
def test_a_pg_dump_restores_into_an_empty_database_with_the_same_export(tmp_path: Path) -> None:
    from sdm_service import migrate
    from sdm_service.db import create_engine
    from tests.conftest import make_settings
    from tests.reliability.seed import seed_everything

    source = create_postgres_database()
    target = create_postgres_database()
    try:
        migrate.upgrade(source, configure_logging=False)
        settings = make_settings(source)

        async def seed() -> None:
            engine = create_engine(settings)
            try:
                await seed_everything(
                    engine, load_library(PROJECT_ROOT / "questionnaires").get("iort-sdm"), settings
                )
            finally:
                await engine.dispose()

        asyncio.run(seed())
        dump = tmp_path / "sdm.dump"
        plain = source.replace("postgresql+asyncpg://", "postgresql://")
        subprocess.run(
            ["pg_dump", "--format=custom", "--no-owner", f"--file={dump}", plain], check=True, timeout=120
        )
        restore = [
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            "--dbname",
            target.replace("+asyncpg", ""),
            str(dump),
        ]
        subprocess.run(restore, check=True, timeout=120, capture_output=True)
        assert exported_tables(target, tmp_path / "restored") == exported_tables(source, tmp_path / "source")
    finally:
        drop_postgres_database(source)
        drop_postgres_database(target)

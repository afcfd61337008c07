"""`sdm export` then `sdm import` into an empty database gives back every row with the same ids;
an import either restores everything or changes nothing."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse as FhirQuestionnaireResponse
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from sdm_service import migrate
from sdm_service.audit import SYSTEM, record_now
from sdm_service.cli import main
from sdm_service.content import load_library
from sdm_service.db import create_engine
from sdm_service.exchange import EPHEMERAL_TABLES, restorable_tables
from sdm_service.models import AuditEvent
from sdm_service.settings import Settings
from tests.conftest import create_postgres_database, drop_postgres_database, make_settings
from tests.reliability.seed import seed_everything


def run_sdm(database_url: str, *args: str) -> Any:
    env = {"SDM_DATABASE_URL": database_url, "SDM_ENV": "test", "SDM_BASE_URL": "http://testserver.local"}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


async def all_rows(engine: AsyncEngine) -> dict[str, list[dict[str, Any]]]:
    rows: dict[str, list[dict[str, Any]]] = {}
    async with engine.connect() as connection:
        for table in restorable_tables():
            result = await connection.execute(select(table).order_by(*table.primary_key.columns))
            rows[table.name] = [dict(row) for row in result.mappings()]
    return rows


async def row_counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as connection:
        return {
            table.name: (await connection.execute(select(func.count()).select_from(table))).scalar_one()
            for table in restorable_tables()
        }


def in_loop(coroutine_function: Any, settings: Settings, *args: Any) -> Any:
    async def run() -> Any:
        engine = create_engine(settings)
        try:
            return await coroutine_function(engine, *args)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@pytest.fixture
def source(database_url: str) -> Settings:
    settings = make_settings(database_url)
    content = load_library(settings.content_dir).get("iort-sdm")
    in_loop(seed_everything, settings, content, settings)
    return settings


@pytest.fixture
def empty_target(database_url: str, tmp_path: Path, sqlite_template: Path) -> Iterator[Settings]:
    """A second, migrated, empty database on the same engine as the source."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "restored.db"
        shutil.copyfile(sqlite_template, path)
        yield make_settings(f"sqlite:///{path}")
        return
    url = create_postgres_database()
    migrate.upgrade(url, configure_logging=False)
    yield make_settings(url)
    drop_postgres_database(url)


@pytest.fixture
def exported(source: Settings, tmp_path: Path) -> Path:
    out = tmp_path / "export"
    result = run_sdm(source.database_url, "export", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "Exported to" in result.output
    return out


def test_round_trip_restores_every_row_with_the_same_ids(
    source: Settings, exported: Path, empty_target: Settings
) -> None:
    result = run_sdm(empty_target.database_url, "import", str(exported))
    assert result.exit_code == 0, result.output

    before = in_loop(all_rows, source)
    after = in_loop(all_rows, empty_target)
    for table in ("responses", "audit_events", "reviews", "invitations", "questionnaire_versions", "users"):
        assert before[table], f"the seed wrote no {table}"
    # The export and the import are each audited where they ran, after the rows were read or written.
    assert [row["action"] for row in before["audit_events"]][-1] == "data.export"
    assert [row["action"] for row in after["audit_events"]][-1] == "data.import"
    before["audit_events"].pop()
    after["audit_events"].pop()
    for table in before:
        assert after[table] == before[table], f"{table} differs after the round trip"
    completed = [row for row in after["responses"] if row["status"] == "completed"]
    assert completed[0]["summary"]["response_id"] == str(completed[0]["id"])


def test_new_records_after_a_restore_get_fresh_ids(
    source: Settings, exported: Path, empty_target: Settings
) -> None:
    assert run_sdm(empty_target.database_url, "import", str(exported)).exit_code == 0

    async def add_event(engine: AsyncEngine) -> list[int]:
        await record_now(engine, SYSTEM, "after.restore")
        async with engine.connect() as connection:
            return list((await connection.execute(select(AuditEvent.id))).scalars())  # type: ignore[call-overload]

    ids = in_loop(add_event, empty_target)
    assert len(ids) == len(set(ids)) == 5  # 3 restored, the import's own audit event, and this one


def test_sessions_and_rate_counters_are_left_out(exported: Path) -> None:
    manifest = json.loads((exported / "manifest.json").read_text())
    assert EPHEMERAL_TABLES.isdisjoint(manifest["tables"])
    assert not (exported / "tables" / "user_sessions.json").exists()


def test_every_response_is_exported_as_a_valid_fhir_questionnaire_response(
    source: Settings, exported: Path
) -> None:
    lines = (exported / "fhir" / "QuestionnaireResponse.ndjson").read_text().splitlines()
    resources = [json.loads(line) for line in lines]
    ids = {str(row["id"]) for row in in_loop(all_rows, source)["responses"]}
    assert {resource["id"] for resource in resources} == ids
    for resource in resources:
        FhirQuestionnaireResponse.model_validate(resource)
    completed = [r for r in resources if r["status"] == "completed"]
    assert len(completed) == 1
    assert completed[0]["subject"]["identifier"]["value"] == "MRN-1"
    assert completed[0]["item"]


def test_import_refuses_a_database_that_is_not_empty(source: Settings, exported: Path) -> None:
    before = in_loop(row_counts, source)
    result = CliRunner().invoke(
        main, ["import", str(exported)], env={"SDM_DATABASE_URL": source.database_url, "SDM_ENV": "test"}
    )
    assert result.exit_code != 0
    assert "not empty" in result.output
    assert "nothing was changed" in result.output
    assert in_loop(row_counts, source) == before


def test_a_bad_row_rolls_the_whole_import_back(exported: Path, empty_target: Settings) -> None:
    # Repeat the last audit event (a duplicate id) and keep the manifest consistent with it, so only
    # the database can notice, after every other table has been written.
    audit_file = exported / "tables" / "audit_events.json"
    lines = audit_file.read_text().splitlines()
    audit_file.write_text("\n".join([*lines, lines[-1]]) + "\n")
    manifest_file = exported / "manifest.json"
    manifest = json.loads(manifest_file.read_text())
    manifest["files"].pop("tables/audit_events.json")
    manifest["tables"]["audit_events"] += 1
    manifest_file.write_text(json.dumps(manifest))

    result = run_sdm(empty_target.database_url, "import", str(exported))
    assert result.exit_code != 0
    assert "could not be restored" in result.output
    assert "Nothing was changed" in result.output
    assert set(in_loop(row_counts, empty_target).values()) == {0}


def test_a_damaged_export_is_refused(exported: Path, empty_target: Settings) -> None:
    responses_file = exported / "tables" / "responses.json"
    responses_file.write_text(responses_file.read_text().replace("MRN-1", "MRN-9"))
    result = run_sdm(empty_target.database_url, "import", str(exported))
    assert result.exit_code != 0
    assert "does not match its checksum" in result.output
    assert set(in_loop(row_counts, empty_target).values()) == {0}


def test_export_refuses_a_directory_that_is_not_empty(source: Settings, tmp_path: Path) -> None:
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = run_sdm(source.database_url, "export", "--out", str(out))
    assert result.exit_code != 0
    assert "not empty" in result.output
    assert (out / "keep.txt").read_text() == "mine"

"""Exports are readable only by their owner, and export and import are on the audit record."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, select
from sqlmodel import SQLModel, col

from sdm_service.db import create_engine
from sdm_service.exchange import export_database, import_database
from sdm_service.models import AuditEvent
from sdm_service.services import invitations
from sdm_service.settings import Settings
from tests.web.patient_support import (
    content_of,
    db,
)

Client = AsyncTestClient[Litestar]
PASSWORD = "a-long-enough-password-42"


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would make new files world-readable, as on many servers."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _audit_events(settings: Settings, action: str) -> list[AuditEvent]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(AuditEvent).where(col(AuditEvent.action) == action))
            return [AuditEvent.model_validate(dict(row)) for row in rows.mappings()]
    finally:
        await engine.dispose()


async def test_export_is_readable_only_by_its_owner_and_export_and_import_are_audited(
    app: Litestar, settings: Settings, tmp_path: Path, open_umask: None
) -> None:
    async with db(app) as session:
        await invitations.create_invitation(session, settings, content_of(app), patient_value="MRN-5")
        await session.commit()
    out_dir = tmp_path / "backup" / "export-1"
    engine = create_engine(settings)
    try:
        result = await export_database(engine, out_dir, base_url=settings.base_url, library=app.state.library)
    finally:
        await engine.dispose()

    assert result.tables["responses"] == 1
    for directory in (out_dir, out_dir / "tables", out_dir / "fhir"):
        assert _mode(directory) == 0o700, directory
    files = [path for path in out_dir.rglob("*") if path.is_file()]
    assert out_dir / "manifest.json" in files
    assert len(files) > 3
    for path in files:
        assert _mode(path) == 0o600, path

    (exported,) = await _audit_events(settings, "data.export")
    assert exported.actor_type == "system"
    assert exported.detail["tables"]["responses"] == 1
    assert exported.detail["fhir_resources"] == 1

    # Restore into the same database emptied, as onto a new server.
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            for table in reversed(SQLModel.metadata.sorted_tables):
                await connection.execute(delete(table))
        restored = await import_database(engine, out_dir)
    finally:
        await engine.dispose()
    assert restored.tables["responses"] == 1
    (imported,) = await _audit_events(settings, "data.import")
    assert imported.actor_type == "system"
    assert imported.detail["tables"]["responses"] == 1


async def test_an_export_into_an_existing_empty_directory_makes_it_private(
    app: Litestar, settings: Settings, tmp_path: Path, open_umask: None
) -> None:
    out_dir = tmp_path / "made-by-hand"
    out_dir.mkdir(mode=0o755)
    engine = create_engine(settings)
    try:
        await export_database(engine, out_dir, base_url=settings.base_url)
    finally:
        await engine.dispose()
    assert _mode(out_dir) == 0o700

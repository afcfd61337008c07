"""Export and restore: every response, summary, review, invitation, account and audit event.

``export_database`` writes a directory:

- ``tables/<table>.json``: the full rows of every table a restore needs, one JSON object per row;
- ``fhir/QuestionnaireResponse.ndjson``: each response as a FHIR R4 QuestionnaireResponse, one per
  line (bulk-data style), for systems that read FHIR rather than our tables;
- ``manifest.json`` (written last, so its presence means the export is complete): the schema
  revision, row counts and a SHA-256 of every file.

``import_database`` restores such a directory into an empty, migrated database with the same ids,
in one transaction: it either restores everything or changes nothing.

Rate-limit counters and clinician sign-in sessions are deliberately left out: they are short-lived,
and restoring sessions would sign people back in on another system.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from sqlalchemy import Column, Table, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlmodel import SQLModel

from sdm_service import __version__
from sdm_service import models as _models  # noqa: F401 - registers every table on the metadata
from sdm_service.audit import SYSTEM, record_now
from sdm_service.content import ContentLibrary
from sdm_service.exchange_fhir import FhirResponseWriter

logger = logging.getLogger("sdm_service.exchange")

FORMAT = "sdm-service-export"
FORMAT_VERSION = 1
EPHEMERAL_TABLES = frozenset({"rate_counters", "user_sessions"})
INSERT_BATCH = 500
# An export holds every patient's answers: only the account that ran it may read it.
PRIVATE_DIRECTORY_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


class ExchangeError(Exception):
    """A refusal with a message meant for the person running the command."""


@dataclass
class ExportResult:
    directory: Path
    tables: dict[str, int]
    fhir_resources: int
    fhir_skipped: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    tables: dict[str, int]


def restorable_tables() -> list[Table]:
    """Every table a restore needs, parents before children (foreign keys)."""
    return [table for table in SQLModel.metadata.sorted_tables if table.name not in EPHEMERAL_TABLES]


# --- values ---------------------------------------------------------------------------------------


def _to_json(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot export a value of type {type(value).__name__}")


def _from_json(column: Column[Any]) -> Callable[[Any], Any]:
    """How to turn a column's exported JSON value back into what the database driver expects."""
    try:
        python_type = column.type.python_type
    except NotImplementedError:
        return lambda value: value
    if python_type is uuid.UUID:
        return lambda value: None if value is None else uuid.UUID(value)
    if python_type is datetime:
        return lambda value: None if value is None else datetime.fromisoformat(value)
    if python_type is date:
        return lambda value: None if value is None else date.fromisoformat(value)
    if python_type is Decimal:
        return lambda value: None if value is None else Decimal(value)
    if python_type is bytes:
        return lambda value: None if value is None else base64.b64decode(value)
    return lambda value: value


def _row_line(row: dict[str, Any]) -> str:
    return json.dumps(row, default=_to_json, ensure_ascii=False, sort_keys=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


async def schema_revision(connection: AsyncConnection) -> str:
    try:
        rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
    except Exception as exc:  # no alembic_version table: never migrated
        raise ExchangeError(
            "The database has no schema yet. Run `sdm db upgrade` first, then try again."
        ) from exc
    if not rows:
        raise ExchangeError("The database has no schema yet. Run `sdm db upgrade` first, then try again.")
    return ",".join(sorted(rows))


# --- export ---------------------------------------------------------------------------------------


async def export_database(
    engine: AsyncEngine, out_dir: Path, *, base_url: str, library: ContentLibrary | None = None
) -> ExportResult:
    """Write every restorable row (and the FHIR view of each response) to ``out_dir``."""
    _prepare_directory(out_dir)

    counts: dict[str, int] = {}
    questionnaire_versions: list[dict[str, Any]] = []  # few rows: each version ever completed
    # One read transaction (repeatable read on PostgreSQL), so every file shows the same moment.
    options = {} if engine.dialect.name == "sqlite" else {"isolation_level": "REPEATABLE READ"}
    async with engine.connect() as connection:
        connection = await connection.execution_options(**options)
        async with connection.begin():
            revision = await schema_revision(connection)
            for table in restorable_tables():
                path = out_dir / "tables" / f"{table.name}.json"
                order = list(table.primary_key.columns) or list(table.columns)
                result = await connection.stream(select(table).order_by(*order))
                count = 0
                with _open_private(path) as handle:
                    async for row in result.mappings():
                        values = dict(row)
                        handle.write(_row_line(values) + "\n")
                        count += 1
                        if table.name == "questionnaire_versions":
                            questionnaire_versions.append(values)
                counts[table.name] = count

            # Streamed again rather than kept from above, so memory stays small with many responses.
            fhir = FhirResponseWriter(questionnaire_versions, base_url, library)
            responses = SQLModel.metadata.tables["responses"]
            result = await connection.stream(select(responses).order_by(responses.c.id))
            with _open_private(out_dir / "fhir" / "QuestionnaireResponse.ndjson") as handle:
                async for response in result:
                    fhir.write(handle, response)

    files = _files_in(out_dir)
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "exported_at": datetime.now(UTC).isoformat(),
        "app_version": __version__,
        "schema_revision": revision,
        "tables": counts,
        "fhir": {"QuestionnaireResponse": fhir.written, "skipped_response_ids": fhir.skipped},
        "files": {str(p.relative_to(out_dir)): _sha256(p) for p in files},
    }
    with _open_private(out_dir / "manifest.json") as handle:
        handle.write(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    await record_now(
        engine,
        SYSTEM,
        "data.export",
        entity_type="export",
        detail={"tables": counts, "fhir_resources": fhir.written, "fhir_skipped": len(fhir.skipped)},
    )
    return ExportResult(out_dir, counts, fhir.written, fhir.skipped)


def _prepare_directory(out_dir: Path) -> None:
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ExchangeError(f"{out_dir} is not empty. Choose a new or empty directory for the export.")
    out_dir.mkdir(parents=True, exist_ok=True)
    for directory in (out_dir, out_dir / "tables", out_dir / "fhir"):
        directory.mkdir(mode=PRIVATE_DIRECTORY_MODE, exist_ok=True)
        directory.chmod(PRIVATE_DIRECTORY_MODE)  # mkdir's mode is narrowed by the umask; set it exactly


def _open_private(path: Path) -> TextIO:
    """A new file only its owner can read or write, whatever the umask says."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
    try:
        os.fchmod(descriptor, PRIVATE_FILE_MODE)
    except BaseException:
        os.close(descriptor)
        raise
    return os.fdopen(descriptor, "w", encoding="utf-8")


def _files_in(directory: Path) -> list[Path]:
    return sorted(path for path in directory.rglob("*") if path.is_file())


# --- import ---------------------------------------------------------------------------------------


def read_manifest(directory: Path) -> dict[str, Any]:
    manifest_path = directory / "manifest.json"
    if not manifest_path.is_file():
        raise ExchangeError(
            f"{directory} has no manifest.json: it is not a complete export (or the export stopped early)."
        )
    try:
        manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ExchangeError(f"{manifest_path} is not valid JSON: {exc}") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ExchangeError(f"{directory} is not an sdm-service export of format version {FORMAT_VERSION}.")
    for name, expected in manifest.get("files", {}).items():
        file_path = directory / name
        if not file_path.is_file():
            raise ExchangeError(f"The export is incomplete: {name} is missing.")
        if _sha256(file_path) != expected:
            raise ExchangeError(f"The export is damaged: {name} does not match its checksum.")
    return manifest


def _read_rows(path: Path, table: Table) -> Iterable[dict[str, Any]]:
    decoders = {column.name: _from_json(column) for column in table.columns}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            raw = json.loads(line)
            unknown = set(raw) - set(decoders)
            if unknown:
                raise ExchangeError(
                    f"{path.name} line {number}: columns {sorted(unknown)} are not in this database's "
                    f"{table.name} table."
                )
            yield {name: decoders[name](value) for name, value in raw.items()}


def _python_type(column: Column[Any]) -> type | None:
    """The column's Python type, or None for types that do not declare one (e.g. a UUID type)."""
    try:
        return column.type.python_type
    except NotImplementedError:
        return None


async def _reset_sequences(connection: AsyncConnection, tables: list[Table]) -> None:
    """PostgreSQL: move each serial counter past the restored ids, so new rows do not collide."""
    for table in tables:
        for column in table.primary_key.columns:
            if column.autoincrement is True or (
                column.autoincrement == "auto" and _python_type(column) is int
            ):
                # Names come from our own table metadata, never from input.
                highest = f'COALESCE((SELECT MAX("{column.name}") FROM "{table.name}"), 0) + 1'  # noqa: S608
                await connection.execute(
                    text(f"SELECT setval(pg_get_serial_sequence(:table, :column), {highest}, false)"),
                    {"table": table.name, "column": column.name},
                )


async def import_database(engine: AsyncEngine, directory: Path) -> ImportResult:
    """Restore an export into an empty, migrated database: all of it, or (on any error) none of it."""
    manifest = read_manifest(directory)
    tables = [table for table in restorable_tables() if table.name in manifest["tables"]]
    missing = set(manifest["tables"]) - {table.name for table in tables}
    if missing:
        raise ExchangeError(f"This database has no table(s) {sorted(missing)} to restore into.")

    try:
        result = await _restore(engine, directory, manifest, tables)
    except ExchangeError:
        raise
    except (SQLAlchemyError, ValueError, KeyError) as exc:  # bad rows: the transaction rolled back
        raise ExchangeError(
            f"The export could not be restored ({type(exc).__name__}: {str(exc).splitlines()[0][:300]}). "
            "Nothing was changed."
        ) from exc
    await record_now(
        engine,
        SYSTEM,
        "data.import",
        entity_type="export",
        detail={"tables": result.tables, "exported_at": manifest.get("exported_at", "")},
    )
    return result


async def _restore(
    engine: AsyncEngine, directory: Path, manifest: dict[str, Any], tables: list[Table]
) -> ImportResult:
    counts: dict[str, int] = {}
    async with engine.begin() as connection:
        revision = await schema_revision(connection)
        if revision != manifest["schema_revision"]:
            raise ExchangeError(
                f"The export was made at schema revision {manifest['schema_revision']}, but this "
                f"database is at {revision}. Restore into a database at the same revision "
                "(`sdm db upgrade --revision ...`), then upgrade it."
            )
        filled = []
        for table in restorable_tables():
            rows = (await connection.execute(select(func.count()).select_from(table))).scalar_one()
            if rows:
                filled.append(f"{table.name} ({rows} rows)")
        if filled:
            raise ExchangeError(
                "The database is not empty: "
                + ", ".join(filled)
                + ". Restore only into a new, migrated database; nothing was changed."
            )
        for table in tables:
            batch: list[dict[str, Any]] = []
            count = 0
            for row in _read_rows(directory / "tables" / f"{table.name}.json", table):
                batch.append(row)
                if len(batch) >= INSERT_BATCH:
                    await connection.execute(table.insert(), batch)
                    count += len(batch)
                    batch = []
            if batch:
                await connection.execute(table.insert(), batch)
                count += len(batch)
            if count != manifest["tables"][table.name]:
                listed = manifest["tables"][table.name]
                raise ExchangeError(f"{table.name}: read {count} rows but the manifest lists {listed}.")
            counts[table.name] = count
        if connection.dialect.name == "postgresql":
            await _reset_sequences(connection, tables)
    return ImportResult(counts)

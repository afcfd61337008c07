"""`sdm audit verify`: check that no audit event was changed or removed since it was written.
`sdm audit export`: the log as FHIR AuditEvent lines (NDJSON) for a SIEM."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from typing import TextIO

import click


@click.group("audit")
def audit() -> None:
    """The audit log."""


@audit.command("verify")
def verify() -> None:
    """Recompute the audit log's hash chain. Exits 0 with the number of events when it is intact;
    otherwise names the first broken event and exits 1."""
    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.ext.asyncio import AsyncSession

    from sdm_service.cli import settings_or_exit
    from sdm_service.db import create_engine
    from sdm_service.services.audit_query import ChainCheck, verify_chain

    settings = settings_or_exit()

    async def run() -> ChainCheck:
        engine = create_engine(settings)
        try:
            async with AsyncSession(engine) as session:
                return await verify_chain(session)
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(run())
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"The database could not be read ({type(exc).__name__}). Is it running, and did you run "
            "'sdm db upgrade'?"
        ) from None
    if result.broken is None:
        click.echo(f"Audit log intact: {result.checked} events, every hash and link checks out.")
        return
    broken = result.broken
    click.echo(
        f"Audit log BROKEN at event {broken.event_id} ({broken.occurred_at.isoformat()}): {broken.problem}.",
        err=True,
    )
    click.echo(f"{result.checked - 1} events before it check out.", err=True)
    raise SystemExit(1)


@audit.command("export")
@click.option(
    "--since",
    "since",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    required=True,
    help="First day (UTC) to export, e.g. 2026-11-01.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["fhir-ndjson"]),
    default="fhir-ndjson",
    show_default=True,
    help="One FHIR R4 AuditEvent (IHE BALP shape) per line.",
)
@click.option(
    "--output", type=click.Path(dir_okay=False, writable=True), help="Write here instead of stdout."
)
def export(since: datetime, output_format: str, output: str | None) -> None:
    """Export the audit log from SINCE on, oldest first, for a SIEM. The export itself is recorded."""
    import json

    from sqlalchemy.exc import SQLAlchemyError
    from sqlalchemy.ext.asyncio import AsyncSession

    from sdm_service.audit import SYSTEM, record_now
    from sdm_service.cli import settings_or_exit
    from sdm_service.db import create_engine
    from sdm_service.fhirmap.audit_event import audit_event
    from sdm_service.services.audit_fhir import AuditEventFilter, export_audit_events

    settings = settings_or_exit()
    start = since.replace(tzinfo=UTC)
    observer = f"{settings.base_url}/fhir"

    async def run(stream: TextIO) -> int:
        engine = create_engine(settings)
        written = 0
        try:
            async with AsyncSession(engine) as session:
                async for row, patient in export_audit_events(
                    session, AuditEventFilter(bounds=(("ge", start),))
                ):
                    stream.write(json.dumps(audit_event(row, patient=patient, observer=observer)) + "\n")
                    written += 1
            await record_now(
                engine,
                SYSTEM,
                "audit.export",
                detail={"since": start.isoformat(), "format": output_format, "events": written},
            )
        finally:
            await engine.dispose()
        return written

    try:
        if output:
            with open(output, "w", encoding="utf-8") as stream:
                written = asyncio.run(run(stream))
        else:
            written = asyncio.run(run(sys.stdout))
    except SQLAlchemyError as exc:
        raise click.ClickException(
            f"The database could not be read ({type(exc).__name__}). Is it running, and did you run "
            "'sdm db upgrade'?"
        ) from None
    click.echo(f"Exported {written} audit events since {start.date().isoformat()}.", err=True)

"""`sdm audit verify`: check that no audit event was changed or removed since it was written."""

from __future__ import annotations

import asyncio

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

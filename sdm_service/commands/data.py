"""`sdm export --out DIR` and `sdm import DIR`: back up and restore every record (see exchange.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from sdm_service.commands.environment import settings_or_exit


@click.command("export")
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="A new or empty directory to write the export into.",
)
def export_command(out_dir: Path) -> None:
    """Write every response, summary, review, invitation, account and audit event to OUT
    (JSON rows for restoring, plus FHIR QuestionnaireResponse ndjson)."""
    from sdm_service.content import ContentError, load_library
    from sdm_service.db import create_engine
    from sdm_service.exchange import ExchangeError, export_database

    settings = settings_or_exit()
    try:
        library = load_library(settings.content_dir)
    except ContentError:
        library = None  # stored questionnaire versions still map every pinned response

    async def run() -> None:
        engine = create_engine(settings)
        try:
            result = await export_database(engine, out_dir, base_url=settings.base_url, library=library)
        finally:
            await engine.dispose()
        for table, count in result.tables.items():
            click.echo(f"  {table}: {count} rows")
        click.echo(f"  FHIR QuestionnaireResponse: {result.fhir_resources}")
        if result.fhir_skipped:
            click.echo(
                f"  warning: {len(result.fhir_skipped)} responses have no FHIR form "
                "(their rows are exported in full)",
                err=True,
            )
        click.echo(f"Exported to {result.directory}")

    try:
        asyncio.run(run())
    except ExchangeError as exc:
        raise click.ClickException(str(exc)) from None


@click.command("import")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
def import_command(directory: Path) -> None:
    """Restore an export from DIRECTORY into an empty, migrated database, keeping every id.
    All or nothing: on any problem, the database is left as it was."""
    from sdm_service.db import create_engine
    from sdm_service.exchange import ExchangeError, import_database

    settings = settings_or_exit()

    async def run() -> None:
        engine = create_engine(settings)
        try:
            result = await import_database(engine, directory)
        finally:
            await engine.dispose()
        for table, count in result.tables.items():
            click.echo(f"  {table}: {count} rows")
        click.echo(f"Restored {sum(result.tables.values())} rows from {directory}")

    try:
        asyncio.run(run())
    except ExchangeError as exc:
        raise click.ClickException(str(exc)) from None

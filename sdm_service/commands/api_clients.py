"""`sdm api-clients create|list|revoke`: bearer tokens for integration clients (the EHR)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.audit import SYSTEM, record
from sdm_service.commands.unit_of_work import run_unit_of_work
from sdm_service.services import api_clients as service

T = TypeVar("T")


def _run(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    return run_unit_of_work(work, user_errors=(service.ApiClientError,))


@click.group("api-clients")
def api_clients() -> None:
    """Bearer tokens for integration clients (JSON API and FHIR)."""


@api_clients.command("create")
@click.argument("name")
@click.option(
    "--scopes",
    required=True,
    help=f"Comma-separated scopes: {', '.join(service.SCOPES)}.",
)
def create(name: str, scopes: str) -> None:
    """Create client NAME and print its token once (the last line of output)."""
    try:
        service.parse_scopes(scopes)  # refuse unknown scopes before touching the database
    except service.ApiClientError as exc:
        raise click.ClickException(str(exc)) from None

    async def work(session: AsyncSession) -> service.NewApiClient:
        created = await service.create_api_client(session, name, scopes)
        await record(
            session,
            SYSTEM,
            "api_client.create",
            entity_type="api_client",
            entity_id=str(created.client.id),
            detail={"name": created.client.name, "scopes": created.client.scopes.split()},
        )
        return created

    created = _run(work)
    click.echo(f"Created API client {created.client.name!r} (id {created.client.id})")
    click.echo(f"Scopes: {', '.join(created.client.scopes.split())}")
    click.echo("Store this token now; it is not shown again. Send it as 'Authorization: Bearer <token>'.")
    click.echo(created.token)


@api_clients.command("list")
def list_clients() -> None:
    """List clients with their token prefix, scopes and status (never the tokens)."""

    async def work(session: AsyncSession) -> list[tuple[str, ...]]:
        rows: list[tuple[str, ...]] = []
        for client in await service.list_api_clients(session):
            status = f"revoked {client.revoked_at:%Y-%m-%d}" if client.revoked_at else "active"
            used = f"{client.last_used_at:%Y-%m-%d %H:%M}" if client.last_used_at else "never"
            rows.append((str(client.id), client.name, client.token_prefix + "…", client.scopes, status, used))
        return rows

    rows = _run(work)
    if not rows:
        click.echo("No API clients yet. Create one with 'sdm api-clients create NAME --scopes ...'.")
        return
    click.echo("id\tname\ttoken\tscopes\tstatus\tlast used")
    for row in rows:
        click.echo("\t".join(row))


@api_clients.command("revoke")
@click.argument("name_or_id")
def revoke(name_or_id: str) -> None:
    """Revoke a client by NAME or id; its token stops working at once."""

    async def work(session: AsyncSession) -> str:
        client = await service.revoke_api_client(session, name_or_id)
        await record(
            session,
            SYSTEM,
            "api_client.revoke",
            entity_type="api_client",
            entity_id=str(client.id),
            detail={"name": client.name},
        )
        return f"Revoked API client {client.name!r} (id {client.id})."

    click.echo(_run(work))

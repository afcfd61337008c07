"""`sdm api-clients create|list|revoke`: integration clients (the EHR), SMART Backend Services
clients (a registered JWKS) or static bearer tokens."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.audit import SYSTEM, record
from sdm_service.commands.environment import settings_or_exit
from sdm_service.commands.unit_of_work import run_unit_of_work
from sdm_service.scopes import RESOURCES
from sdm_service.services import api_clients as service
from sdm_service.smart.jwks import JwksError, load_jwks_file

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
    help="SMART v2 system scopes, comma-separated, e.g. system/QuestionnaireResponse.rs,"
    "system/DocumentReference.rs,system/Binary.r,system/Questionnaire.rs,system/Task.cru "
    f"(resource types: {', '.join(RESOURCES)}).",
)
@click.option("--jwks-url", help="A SMART client: the https URL of its public key set (JWKS).")
@click.option(
    "--jwks-file",
    type=click.Path(exists=True, dir_okay=False, readable=True),
    help="A SMART client: a file holding its public key set (JWKS JSON).",
)
def create(name: str, scopes: str, jwks_url: str | None, jwks_file: str | None) -> None:
    """Create client NAME. With --jwks-url or --jwks-file a SMART Backend Services client: prints
    its client id on the last line. Without, a static token (printed once, on the last line)."""
    settings = settings_or_exit()
    try:
        service.parse_scopes(scopes)  # refuse unknown scopes before touching the database
        jwks = load_jwks_file(Path(jwks_file).read_text(encoding="utf-8")) if jwks_file else None
        service.check_key_source(jwks, jwks_url, production=settings.is_production)
    except (service.ApiClientError, JwksError, OSError, UnicodeError) as exc:
        raise click.ClickException(str(exc)) from None

    async def work(session: AsyncSession) -> service.NewApiClient:
        created = await service.create_api_client(
            session, name, scopes, jwks=jwks, jwks_url=jwks_url, production=settings.is_production
        )
        await record(
            session,
            SYSTEM,
            "api_client.create",
            entity_type="api_client",
            entity_id=str(created.client.id),
            detail={
                "name": created.client.name,
                "scopes": created.client.scopes.split(),
                "kind": service.client_kind(created.client),
                "jwks_url": created.client.jwks_url or "",
            },
        )
        return created

    created = _run(work)
    click.echo(f"Created API client {created.client.name!r} (id {created.client.id})")
    click.echo(f"Scopes: {' '.join(created.client.scopes.split())}")
    if created.token is None:
        click.echo(
            f"SMART Backend Services client: sign assertions with iss = sub = this client id and aud = "
            f"{settings.smart_token_url}. Client id:"
        )
        click.echo(str(created.client.id))
        return
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
            if service.client_kind(client) == "smart":
                credential = f"SMART key set {client.jwks_url or '(registered file)'}"
            else:
                credential = client.token_prefix + "…"
            rows.append((str(client.id), client.name, credential, client.scopes, status, used))
        return rows

    rows = _run(work)
    if not rows:
        click.echo("No API clients yet. Create one with 'sdm api-clients create NAME --scopes ...'.")
        return
    click.echo("id\tname\ttoken or key set\tscopes\tstatus\tlast used")
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

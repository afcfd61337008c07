"""Bearer-token authentication and scopes for the JSON API and FHIR endpoints.

Handlers declare the scopes they need in `opt={"scopes": (...)}` (or `opt={"public": True}`);
the router's guard answers 401 for a missing, unknown or revoked token and 403 for a token
without the scope, and the `api_client` dependency hands the client to the handler.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.openapi.spec import SecurityScheme
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.audit import Actor, record
from sdm_service.middleware import request_ip
from sdm_service.models import ApiClient
from sdm_service.services.api_clients import SCOPES, authenticate, client_scopes

logger = logging.getLogger("sdm_service.api")

INVITATIONS_WRITE = "invitations:write"
RESPONSES_READ = "responses:read"
RESPONSES_WRITE = "responses:write"
AUDIT_SEARCH = "system/AuditEvent.s"
AUDIT_READ = "system/AuditEvent.r"
assert {INVITATIONS_WRITE, RESPONSES_READ, RESPONSES_WRITE, AUDIT_SEARCH, AUDIT_READ} == set(SCOPES)

SECURITY_SCHEME_NAME = "BearerToken"
SECURITY_SCHEME = SecurityScheme(
    type="http",
    scheme="bearer",
    description="A token from `sdm api-clients create NAME --scopes ...`, sent as "
    "`Authorization: Bearer <token>`.",
)
SECURITY: list[dict[str, list[str]]] = [{SECURITY_SCHEME_NAME: []}]
_CHALLENGE = 'Bearer realm="sdm-service"'


def scopes(*required: str) -> dict[str, Any]:
    """Route-handler `opt` naming the scopes a token needs."""
    return {"scopes": required}


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def require_api_client(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard: runs before the body is read, so unauthenticated callers learn nothing about input."""
    if handler.opt.get("public"):
        return
    token = bearer_token(connection)
    if token is None:
        raise NotAuthorizedException(
            detail="Send an API token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": _CHALLENGE},
        )
    # Its own short transaction, so last_used_at is kept even when the request itself fails.
    async with AsyncSession(connection.app.state.side_engine, expire_on_commit=False) as session:
        client = await authenticate(session, token)
        if session.dirty:  # last_used_at moved on (once a minute): no write transaction otherwise
            await session.commit()
    if client is None:
        where = connection.client.host if connection.client else "?"
        logger.warning("API request with an unknown or revoked token from %s", where)
        raise NotAuthorizedException(
            detail="The API token is not valid or was revoked.",
            headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
        )
    required = tuple(handler.opt.get("scopes", ()))
    missing = [scope for scope in required if scope not in client_scopes(client)]
    if missing:
        raise PermissionDeniedException(
            detail=f"This token lacks the scope {', '.join(missing)} needed here.",
            headers={
                "WWW-Authenticate": f'{_CHALLENGE}, error="insufficient_scope", scope="{" ".join(missing)}"'
            },
        )
    connection.state.api_client = client


def provide_api_client(request: Request[Any, Any, Any]) -> ApiClient:
    """Dependency `api_client`: the client the guard authenticated."""
    client = request.state.get("api_client")
    if not isinstance(client, ApiClient):  # a handler marked public asked for a client
        raise NotAuthorizedException(
            detail="Send an API token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": _CHALLENGE},
        )
    return client


API_CLIENT_DEPENDENCY = {"api_client": Provide(provide_api_client, sync_to_thread=False)}


def actor(client: ApiClient) -> Actor:
    return Actor("api_client", str(client.id), client.name)


async def audit_read(
    db_session: AsyncSession,
    client: ApiClient,
    request: Request[Any, Any, Any],
    *,
    entity_id: str,
    action: str = "api.response.read",
    detail: dict[str, Any] | None = None,
) -> None:
    """Record a read of patient data by an API client (one event per response read)."""
    await record(
        db_session,
        actor(client),
        action,
        entity_type="response",
        entity_id=entity_id,
        ip=request_ip(request),
        detail={"path": request.url.path, **(detail or {})},
    )

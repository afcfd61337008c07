"""Bearer-token authentication and SMART v2 scopes for the JSON API and FHIR endpoints.

Handlers declare the one permission they need, `opt=scopes("system/QuestionnaireResponse.s")`
(or `opt={"public": True}`); see sdm_service/scopes.py for what clients are granted. A bearer token
is either a SMART access token (from POST /auth/token) or, unless SDM_STATIC_API_TOKENS=false, a
static token from `sdm api-clients create`. The router's guard answers 401 for a missing, unknown,
expired or revoked token and 403 for a token without the permission, and the `api_client`
dependency hands the client to the handler.
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
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sdm_service import scopes as smart_scopes
from sdm_service.audit import Actor, EventFields, record, record_read
from sdm_service.middleware import request_ip
from sdm_service.models import ApiClient
from sdm_service.services.api_clients import authenticate, client_scopes
from sdm_service.smart.tokens import ACCESS_TOKEN_PREFIX, Principal, SmartAuthority

logger = logging.getLogger("sdm_service.api")

SECURITY_SCHEME_NAME = "BearerToken"
SECURITY_SCHEME = SecurityScheme(
    type="http",
    scheme="bearer",
    description="A SMART Backend Services access token from POST /auth/token (recommended), or a "
    "static token from `sdm api-clients create NAME --scopes ...`, sent as `Authorization: Bearer <token>`.",
)
SECURITY: list[dict[str, list[str]]] = [{SECURITY_SCHEME_NAME: []}]
_CHALLENGE = 'Bearer realm="sdm-service"'


def scopes(*required: str) -> dict[str, Any]:
    """Route-handler `opt` naming the permissions a token needs, one per string
    (``system/Task.c``); checked here, at import, so a typo fails at start-up, not per request."""
    return {"scopes": tuple(smart_scopes.permission(scope) for scope in required)}


def bearer_token(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    header = connection.headers.get("authorization", "")
    kind, _, token = header.partition(" ")
    if kind.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def _principal(connection: ASGIConnection[Any, Any, Any, Any], token: str) -> Principal | None:
    state = connection.app.state
    # Its own short transaction, so last_used_at is kept even when the request itself fails.
    async with AsyncSession(state.side_engine, expire_on_commit=False) as session:
        if token.startswith(ACCESS_TOKEN_PREFIX):
            authority: SmartAuthority = state.smart
            return await authority.authenticate(session, token)
        if not state.settings.static_api_tokens:
            return None
        client = await authenticate(session, token)
        if session.dirty:  # last_used_at moved on (once a minute): no write transaction otherwise
            await session.commit()
    return Principal(client, client_scopes(client), "static") if client is not None else None


def _lacking(missing: list[smart_scopes.Permission]) -> str:
    names = ", ".join(str(permission) for permission in missing)
    older = sorted({name for permission in missing for name in smart_scopes.legacy_names_for(permission)})
    hint = f" (older static tokens: {', '.join(older)})" if older else ""
    return f"This token lacks the scope {names} needed here{hint}."


async def require_api_client(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard: runs before the body is read, so unauthenticated callers learn nothing about input."""
    if handler.opt.get("public"):
        return
    token = bearer_token(connection)
    if token is None:
        raise NotAuthorizedException(
            detail="Send an access token as 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": _CHALLENGE},
        )
    principal = await _principal(connection, token)
    if principal is None:
        where = connection.client.host if connection.client else "?"
        logger.warning("API request with an unknown, expired or revoked token from %s", where)
        static_off = (
            not token.startswith(ACCESS_TOKEN_PREFIX) and not connection.app.state.settings.static_api_tokens
        )
        detail = (
            "Static API tokens are switched off here; get an access token from the SMART token endpoint."
            if static_off
            else "The token is not valid, has expired or was revoked."
        )
        raise NotAuthorizedException(
            detail=detail, headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'}
        )
    required: tuple[smart_scopes.Permission, ...] = tuple(handler.opt.get("scopes", ()))
    missing = [permission for permission in required if permission not in principal.permissions]
    if missing:
        raise PermissionDeniedException(
            detail=_lacking(missing),
            headers={
                "WWW-Authenticate": f'{_CHALLENGE}, error="insufficient_scope", '
                f'scope="{" ".join(str(p) for p in missing)}"'
            },
        )
    connection.state.api_client = principal.client


def provide_api_client(request: Request[Any, Any, Any]) -> ApiClient:
    """Dependency `api_client`: the client the guard authenticated."""
    client = request.state.get("api_client")
    if not isinstance(client, ApiClient):  # a handler marked public asked for a client
        raise NotAuthorizedException(
            detail="Send an access token as 'Authorization: Bearer <token>'.",
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
    autocommit_engine: AsyncEngine | None = None,
) -> None:
    """Record a read of patient data by an API client (one event per response read): with the
    request's unit of work, or, given the app's autocommit engine, committed now, before the
    answer is sent (audit.record_read)."""
    fields = _read_fields(request, entity_id, detail)
    if autocommit_engine is None:
        await record(db_session, actor(client), action, **fields)
    else:
        await record_read(db_session, autocommit_engine, actor(client), action, **fields)


def _read_fields(
    request: Request[Any, Any, Any], entity_id: str, detail: dict[str, Any] | None
) -> EventFields:
    return {
        "entity_type": "response",
        "entity_id": entity_id,
        "ip": request_ip(request),
        "detail": {"path": request.url.path, **(detail or {})},
    }

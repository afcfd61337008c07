"""SMART Backend Services over HTTP: the token endpoint (POST /auth/token) and the discovery
document (GET /fhir/.well-known/smart-configuration). The rules live in sdm_service/smart/.

The token endpoint answers RFC 6749 JSON: 200 with the token, or {"error", "error_description"}
with 400 (invalid_request, invalid_grant, invalid_scope, unsupported_grant_type) or 401
(invalid_client). Every grant is audited with the request; every refusal on its own (counted per
client, address and error, so a flood writes only the 1st, 10th, 100th... of a window).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, Router, get, post
from litestar.di import NamedDependency
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.api.auth import actor
from sdm_service.api.fhir.openapi import OUTCOMES
from sdm_service.api.fhir.params import check_format
from sdm_service.audit import Actor, record, record_refusal
from sdm_service.middleware import request_ip
from sdm_service.paths import SMART_CONFIGURATION_PATH, SMART_TOKEN_PATH
from sdm_service.settings import Settings
from sdm_service.smart.assertions import OAuthError
from sdm_service.smart.discovery import smart_configuration
from sdm_service.smart.tokens import SmartAuthority, TokenRequest

FORM = "application/x-www-form-urlencoded"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}  # RFC 6749 5.1
TOKEN_FIELDS = ("grant_type", "client_assertion_type", "client_assertion", "scope", "client_id")


def _error(exc: OAuthError) -> Response[dict[str, str]]:
    return Response(
        {"error": exc.error, "error_description": exc.description}, status_code=exc.status, headers=NO_STORE
    )


async def _read_form(request: Request[Any, Any, Any]) -> TokenRequest:
    if request.headers.get("content-type", "").split(";", 1)[0].strip().lower() != FORM:
        raise OAuthError("invalid_request", f"Send the token request as {FORM}.")
    form = await request.form()
    values: dict[str, str] = {}
    for name in TOKEN_FIELDS:
        given = [value for value in form.getall(name, []) if isinstance(value, str)]
        if len(given) > 1:
            raise OAuthError("invalid_request", f"The parameter {name} is given more than once.")
        if given:
            values[name] = given[0]
    return TokenRequest(
        grant_type=values.get("grant_type", ""),
        client_assertion_type=values.get("client_assertion_type", ""),
        client_assertion=values.get("client_assertion", ""),
        scope=values.get("scope"),
        client_id=values.get("client_id"),
    )


@post(
    SMART_TOKEN_PATH,
    status_code=200,
    summary="SMART Backend Services token endpoint",
    description="client_credentials with a signed JWT client assertion (private_key_jwt, RS384 or "
    "ES384), form-encoded. Answers an access token valid for at most five minutes.",
    tags=["SMART Backend Services"],
    security=[{}],
)
async def token(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    smart: NamedDependency[SmartAuthority],
    side_engine: NamedDependency[Any],
) -> Response[dict[str, Any]]:
    ip = request_ip(request)
    try:
        issued = await smart.exchange(db_session, await _read_form(request))
    except OAuthError as exc:
        claimed = exc.client_id or ""
        await record_refusal(
            side_engine,
            Actor("anonymous", "", ip),
            "smart.token.refused",
            key=f"{claimed} {ip} {exc.error}",
            ip=ip,
            entity_type="api_client" if claimed else "",
            entity_id=claimed[:64],
            detail={"error": exc.error, "reason": exc.description[:300]},
        )
        return _error(exc)
    await record(
        db_session,
        actor(issued.client),
        "smart.token.granted",
        entity_type="api_client",
        entity_id=str(issued.client.id),
        ip=ip,
        detail={"scope": issued.scope, "expires_in": issued.expires_in},
    )
    body = {
        "access_token": issued.access_token,
        "token_type": "bearer",
        "expires_in": issued.expires_in,
        "scope": issued.scope,
    }
    return Response(body, status_code=200, headers=NO_STORE)


@get(
    SMART_CONFIGURATION_PATH,
    summary="SMART configuration (discovery)",
    opt={"public": True},
    security=[{}],
    tags=["SMART Backend Services"],
    media_type="application/json",
    responses={406: OUTCOMES[406], 429: OUTCOMES[429]},
)
async def discovery(
    request: Request[Any, Any, Any], settings: NamedDependency[Settings]
) -> Response[dict[str, Any]]:
    # Served under /fhir, so it honours the router's _format like every FHIR interaction.
    check_format(request.query_params.get("_format"), request.headers.get("accept", ""))
    return Response(smart_configuration(settings.smart_token_url), headers={"Cache-Control": "max-age=3600"})


routes: list[Any] = [Router("/", route_handlers=[token])]

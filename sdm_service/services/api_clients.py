"""Integration clients (the hospital EHR): SMART Backend Services clients (a public key set,
inline or by URL) or static bearer tokens, each with SMART v2 system scopes (sdm_service/scopes.py).

A static token is shown once, at creation; the database keeps its SHA-256 and a short prefix so
an operator can tell tokens apart in a list without being able to use them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sdm_service import scopes as smart_scopes
from sdm_service.models import ApiClient, utcnow
from sdm_service.security import hash_token, new_token
from sdm_service.smart.jwks import JwksError, check_jwks, check_jwks_url

# What each resource's scopes give a client (shown on the admin page and in `--help`).
SCOPES: dict[str, str] = {
    f"system/{resource}.*": meaning for resource, meaning in smart_scopes.RESOURCE_HELP.items()
}
TOKEN_PREFIX_LENGTH = 8
# Recording every request would turn each read into a write; a minute is precise enough to audit use.
LAST_USED_RESOLUTION = timedelta(minutes=1)
MAX_NAME_LENGTH = 120


class ApiClientError(ValueError):
    """Bad input for creating or revoking a client; the message is meant for the operator."""


@dataclass(frozen=True)
class NewApiClient:
    client: ApiClient
    token: str | None  # a static token, shown once; None for a SMART client (it signs assertions)


def parse_scopes(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Scopes from "a,b" or "a b" (or a list), SMART v2 or v1 or the older names, as canonical
    grouped v2 scopes (one per resource type)."""
    try:
        return tuple(smart_scopes.format_grant(smart_scopes.parse_grant(text)).split())
    except smart_scopes.ScopeError as exc:
        raise ApiClientError(str(exc)) from None


def client_scopes(client: ApiClient) -> frozenset[smart_scopes.Permission]:
    """What the client was granted (rows from before SMART hold the older names: translated)."""
    try:
        return smart_scopes.parse_grant(client.scopes)
    except smart_scopes.ScopeError:
        return frozenset()


def client_kind(client: ApiClient) -> str:
    return "smart" if client.jwks is not None or client.jwks_url else "static"


def check_key_source(
    jwks: dict[str, object] | None, jwks_url: str | None, *, production: bool
) -> tuple[dict[str, object] | None, str | None]:
    """At most one of a JWKS document and a JWKS URL, each checked."""
    if jwks is not None and jwks_url:
        raise ApiClientError("Give either a JWKS file or a JWKS URL, not both.")
    try:
        if jwks is not None:
            check_jwks(jwks)
            return {"keys": jwks["keys"]}, None
        if jwks_url:
            return None, check_jwks_url(jwks_url, production=production)
    except JwksError as exc:
        raise ApiClientError(str(exc)) from None
    return None, None


async def create_api_client(
    session: AsyncSession,
    name: str,
    scopes: str | list[str] | tuple[str, ...],
    *,
    now: datetime | None = None,
    jwks: dict[str, object] | None = None,
    jwks_url: str | None = None,
    production: bool = False,
) -> NewApiClient:
    """A SMART client when a JWKS (document or URL) is given, else a static-token client."""
    clean_name = name.strip()
    if not clean_name:
        raise ApiClientError("Give the client a name, for example the EHR system it belongs to.")
    if len(clean_name) > MAX_NAME_LENGTH or any(ord(ch) < 32 for ch in clean_name):
        raise ApiClientError(f"The name must be at most {MAX_NAME_LENGTH} printable characters.")
    granted = parse_scopes(scopes)
    key_set, key_url = check_key_source(jwks, jwks_url, production=production)
    clash = (
        await session.execute(
            select(ApiClient).where(col(ApiClient.name) == clean_name, col(ApiClient.revoked_at).is_(None))
        )
    ).first()
    if clash is not None:
        raise ApiClientError(f"An active client named {clean_name!r} already exists; revoke it first.")
    smart = key_set is not None or key_url is not None
    token = None if smart else new_token()
    client = ApiClient(
        name=clean_name,
        token_hash=hash_token(token) if token else None,
        token_prefix=token[:TOKEN_PREFIX_LENGTH] if token else "",
        scopes=" ".join(granted),
        jwks=key_set,
        jwks_url=key_url,
        created_at=now or utcnow(),
    )
    session.add(client)
    await session.flush()
    return NewApiClient(client=client, token=token)


async def list_api_clients(session: AsyncSession) -> list[ApiClient]:
    result = await session.execute(select(ApiClient).order_by(col(ApiClient.created_at), col(ApiClient.id)))
    return list(result.scalars())


async def find_api_client(session: AsyncSession, name_or_id: str) -> ApiClient:
    """One client by id, or by name when exactly one client (active first) has it."""
    try:
        client_id = uuid.UUID(name_or_id)
    except ValueError:
        client_id = None
    if client_id is not None:
        client = await session.get(ApiClient, client_id)
        if client is None:
            raise ApiClientError(f"No API client has the id {name_or_id}.")
        return client
    named = list(
        (await session.execute(select(ApiClient).where(col(ApiClient.name) == name_or_id.strip()))).scalars()
    )
    active = [c for c in named if c.revoked_at is None]
    candidates = active or named
    if not candidates:
        raise ApiClientError(f"No API client is named {name_or_id!r}.")
    if len(candidates) > 1:
        raise ApiClientError(
            f"Several clients are named {name_or_id!r}; use the id from 'sdm api-clients list'."
        )
    return candidates[0]


async def revoke_api_client(
    session: AsyncSession, name_or_id: str, *, now: datetime | None = None
) -> ApiClient:
    client = await find_api_client(session, name_or_id)
    if client.revoked_at is None:
        client.revoked_at = now or utcnow()
        session.add(client)
        await session.flush()
    return client


# Built once: a statement made per request costs more to build and look up in SQLAlchemy's cache
# than the indexed read itself (the same for every per-request lookup by token or id).
_BY_TOKEN_HASH = select(ApiClient).where(col(ApiClient.token_hash) == bindparam("token_hash"))


async def authenticate(session: AsyncSession, token: str, *, now: datetime | None = None) -> ApiClient | None:
    """The active client holding this token, or None. Marks it as used (to the minute)."""
    if not token or len(token) > 200:
        return None
    client = (await session.execute(_BY_TOKEN_HASH, {"token_hash": hash_token(token)})).scalar_one_or_none()
    if client is None or client.revoked_at is not None:
        return None
    now = now or utcnow()
    if client.last_used_at is None or now - client.last_used_at >= LAST_USED_RESOLUTION:
        client.last_used_at = now
        session.add(client)
    return client

"""Integration clients (the hospital EHR): bearer tokens with scopes.

The raw token is shown once, at creation; the database keeps its SHA-256 and a short prefix so
an operator can tell tokens apart in a list without being able to use them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sdm_service.models import ApiClient, utcnow
from sdm_service.security import hash_token, new_token

# What each scope lets a client do; the only scopes a client can be given.
SCOPES: dict[str, str] = {
    "invitations:write": "Create invitation links for patients.",
    "responses:read": "Read responses, summaries and PDFs (JSON API and FHIR).",
    "responses:write": "Push responses captured elsewhere (FHIR QuestionnaireResponse).",
    # The audit log for the hospital's SIEM (FHIR AuditEvent), in SMART v2 form: search and read.
    "system/AuditEvent.s": "Search the audit log as FHIR AuditEvent resources.",
    "system/AuditEvent.r": "Read one audit event as a FHIR AuditEvent resource.",
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
    token: str  # shown once


def parse_scopes(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Scopes from "a,b" or "a b" (or a list), deduplicated in the order of SCOPES."""
    parts = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    if not parts:
        raise ApiClientError(f"Give at least one scope. Known scopes: {', '.join(SCOPES)}.")
    unknown = sorted({p for p in parts if p not in SCOPES})
    if unknown:
        raise ApiClientError(f"Unknown scope(s): {', '.join(unknown)}. Known scopes: {', '.join(SCOPES)}.")
    return tuple(scope for scope in SCOPES if scope in parts)


def client_scopes(client: ApiClient) -> frozenset[str]:
    return frozenset(client.scopes.split())


async def create_api_client(
    session: AsyncSession,
    name: str,
    scopes: str | list[str] | tuple[str, ...],
    *,
    now: datetime | None = None,
) -> NewApiClient:
    clean_name = name.strip()
    if not clean_name:
        raise ApiClientError("Give the client a name, for example the EHR system it belongs to.")
    if len(clean_name) > MAX_NAME_LENGTH or any(ord(ch) < 32 for ch in clean_name):
        raise ApiClientError(f"The name must be at most {MAX_NAME_LENGTH} printable characters.")
    granted = parse_scopes(scopes)
    clash = (
        await session.execute(
            select(ApiClient).where(col(ApiClient.name) == clean_name, col(ApiClient.revoked_at).is_(None))
        )
    ).first()
    if clash is not None:
        raise ApiClientError(f"An active client named {clean_name!r} already exists; revoke it first.")
    token = new_token()
    client = ApiClient(
        name=clean_name,
        token_hash=hash_token(token),
        token_prefix=token[:TOKEN_PREFIX_LENGTH],
        scopes=" ".join(granted),
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


async def authenticate(session: AsyncSession, token: str, *, now: datetime | None = None) -> ApiClient | None:
    """The active client holding this token, or None. Marks it as used (to the minute)."""
    if not token or len(token) > 200:
        return None
    client = (
        await session.execute(select(ApiClient).where(col(ApiClient.token_hash) == hash_token(token)))
    ).scalar_one_or_none()
    if client is None or client.revoked_at is not None:
        return None
    now = now or utcnow()
    if client.last_used_at is None or now - client.last_used_at >= LAST_USED_RESOLUTION:
        client.last_used_at = now
        session.add(client)
    return client

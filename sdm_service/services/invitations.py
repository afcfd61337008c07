"""Invitations: a link the clinic (or the EHR) sends one patient.

Creating an invitation also creates the patient's response (status "invited"), so the worklist,
the API and the patient flow all read one table. The raw token exists only in the link; the
database keeps its SHA-256.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypedDict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sdm_service.content import Content
from sdm_service.models import Invitation, PatientResponse, ResponseStatus, utcnow
from sdm_service.security import hash_token, new_token
from sdm_service.services import task_status
from sdm_service.services.responses import new_response
from sdm_service.settings import Settings

MIN_TTL_DAYS = 1
MAX_TTL_DAYS = 365  # the longest a link may stay valid, however it is asked for


class InvitationError(ValueError):
    """Bad invitation input; the message is safe to show to the person who sent it."""


class InvitationUnusable(Exception):
    """The link is unknown, expired or revoked. `reason` is one of: unknown, expired, revoked."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class NewInvitation:
    invitation: Invitation
    response: PatientResponse
    token: str  # shown once, inside the link
    url: str


class InvitationFields(TypedDict, total=False):
    """The optional parts of an invitation, as create_invitation() takes them (a caller that adds to
    an invitation, such as a Task, passes them on)."""

    patient_system: str
    patient_name: str
    consult_date: date | None
    language: str | None
    ttl_days: int | None
    expires_at: datetime | None


def invitation_url(settings: Settings, token: str) -> str:
    return f"{settings.base_url}/i/{token}"


def _clean(value: str | None, field: str, max_length: int, *, required: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        raise InvitationError(f"{field} is required.")
    if len(text) > max_length:
        raise InvitationError(f"{field} must be {max_length} characters or fewer.")
    if any(ord(ch) < 32 for ch in text):
        raise InvitationError(f"{field} contains control characters.")
    return text


async def create_invitation(
    session: AsyncSession,
    settings: Settings,
    content: Content,
    *,
    patient_value: str,
    patient_system: str = "",
    patient_name: str = "",
    consult_date: date | None = None,
    language: str | None = None,
    created_by_user_id: uuid.UUID | None = None,
    created_by_client_id: uuid.UUID | None = None,
    ttl_days: int | None = None,
    expires_at: datetime | None = None,
    now: datetime | None = None,
) -> NewInvitation:
    """`expires_at` (a FHIR Task's restriction.period.end) instead of `ttl_days`: an end in the past
    is refused, one beyond the longest lifetime is brought back to it."""
    now = now or utcnow()
    days = ttl_days if ttl_days is not None else settings.invitation_ttl_days
    if not MIN_TTL_DAYS <= days <= MAX_TTL_DAYS:
        raise InvitationError(f"The link must stay valid for between {MIN_TTL_DAYS} and {MAX_TTL_DAYS} days.")
    if expires_at is not None and expires_at <= now:
        raise InvitationError("The link's expiry must be in the future.")
    expires = (
        min(expires_at, now + timedelta(days=MAX_TTL_DAYS)) if expires_at else now + timedelta(days=days)
    )
    token = new_token()
    system = _clean(patient_system, "Identifier system", 200)
    value = _clean(patient_value, "Patient identifier", 100, required=True)
    name = _clean(patient_name, "Patient name", 200)
    if language is not None and language not in content.languages:
        raise InvitationError(f"Language must be one of: {', '.join(content.languages)}.")
    language = language or content.languages[0]
    patient: dict[str, Any] = {  # the response and the invitation both keep who it is for
        "patient_system": system,
        "patient_value": value,
        "patient_name": name,
        "consult_date": consult_date,
        "language": language,
    }
    response = new_response(content, status=ResponseStatus.INVITED, source="web", now=now, **patient)
    invitation = Invitation(
        token_hash=hash_token(token),
        questionnaire_slug=content.slug,
        expires_at=expires,
        created_by_user_id=created_by_user_id,
        created_by_client_id=created_by_client_id,
        response_id=response.id,
        created_at=now,
        **patient,
    )
    response.invitation_id = invitation.id
    session.add(response)
    await session.flush()  # the response row must exist before the invitation points at it
    session.add(invitation)
    await session.flush()
    return NewInvitation(
        invitation=invitation, response=response, token=token, url=invitation_url(settings, token)
    )


async def find_usable_invitation(
    session: AsyncSession, token: str, *, now: datetime | None = None
) -> Invitation:
    """The invitation behind a link, or InvitationUnusable saying why not."""
    now = now or utcnow()
    if not token or len(token) > 200:
        raise InvitationUnusable("unknown")
    invitation = (
        await session.execute(select(Invitation).where(col(Invitation.token_hash) == hash_token(token)))
    ).scalar_one_or_none()
    if invitation is None:
        raise InvitationUnusable("unknown")
    if invitation.revoked_at is not None:
        raise InvitationUnusable("revoked")
    if invitation.expires_at <= now:
        raise InvitationUnusable("expired")
    return invitation


class InvitationNotFound(LookupError):
    """No invitation has this id."""


async def recent_invitations(session: AsyncSession, limit: int) -> Sequence[Invitation]:
    """The newest invitations first."""
    statement = select(Invitation).order_by(col(Invitation.created_at).desc()).limit(limit)
    return (await session.execute(statement)).scalars().all()


async def withdraw_invitation(session: AsyncSession, invitation_id: uuid.UUID) -> Invitation | None:
    """Revoke an invitation; the invitation when this call revoked it, None when it was revoked
    already (a second click changes nothing). InvitationNotFound for an unknown id."""
    invitation = await session.get(Invitation, invitation_id)
    if invitation is None:
        raise InvitationNotFound(str(invitation_id))
    if invitation.revoked_at is not None:
        return None
    return await revoke_invitation(session, invitation_id)


async def revoke_invitation(session: AsyncSession, invitation_id: uuid.UUID) -> Invitation | None:
    """Withdraw the link. The resume token made when the patient first opened it is dropped too,
    so a saved /r/ link or the browser's cookie stops working along with the invitation."""
    invitation = await session.get(Invitation, invitation_id)
    if invitation is not None and invitation.revoked_at is None:
        invitation.revoked_at = utcnow()
        session.add(invitation)
        response = (
            await session.get(PatientResponse, invitation.response_id) if invitation.response_id else None
        )
        if response is not None and response.resume_token_hash is not None:
            response.resume_token_hash = None
            session.add(response)
        await session.flush()
        if invitation.response_id is not None:
            await task_status.access_ended(session, invitation.response_id, now=invitation.revoked_at)
    return invitation

"""Opening a patient's link: an invitation link (/i/) or a resume link (/r/), and how long it lives.

Either gives back the response and the token the patient's cookie will hold, or LinkUnusable
saying why not ("unknown", "expired", "revoked"), so the page can explain it.

Lifetimes (settings): a patient's access (resume link, cookie, invitation link) ends after
`resume_idle_days` without use, `resume_after_completion_days` after the answers were sent, or
when a clinician or the API ends it (`end_access`). An unopened invitation lives by its own expiry.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col

from sdm_service.audit import Actor, record, record_now, record_patient_event
from sdm_service.models import Invitation, PatientResponse, ResponseStatus, utcnow
from sdm_service.services import responses, task_status
from sdm_service.services.invitations import InvitationUnusable, find_usable_invitation
from sdm_service.settings import Settings

LinkUnusable = InvitationUnusable  # .reason: "unknown" | "expired" | "revoked"


def access_ends_at(response: PatientResponse, settings: Settings) -> datetime | None:
    """When the patient's links stop working, as things stand (None: not before the invitation's
    own expiry, for a response nobody opened yet). Pure."""
    if response.status == ResponseStatus.INVITED:
        return None
    last_use = max(t for t in (response.created_at, response.updated_at, response.last_opened_at) if t)
    ends = last_use + timedelta(days=settings.resume_idle_days)
    if response.completed_at is not None:
        ends = min(ends, response.completed_at + timedelta(days=settings.resume_after_completion_days))
    return ends


def refusal_reason(response: PatientResponse, settings: Settings, now: datetime) -> str | None:
    """Why the patient may no longer open this response ("revoked" when access was ended,
    "expired" past a lifetime), or None while they may. Pure."""
    if response.access_ended_at is not None:
        return "revoked"
    ends = access_ends_at(response, settings)
    if ends is not None and ends <= now:
        return "expired"
    return None


async def check_access(
    engine: AsyncEngine,
    response: PatientResponse,
    settings: Settings,
    *,
    ip: str,
    now: datetime | None = None,
) -> None:
    """LinkUnusable when the patient's access has ended or expired; a refused expired link is
    recorded (on its own: the refusing request is rolled back) as `response.link_expired`."""
    reason = refusal_reason(response, settings, now or utcnow())
    if reason is None:
        return
    if reason == "expired":
        await record_now(
            engine,
            Actor("patient", str(response.id)),
            "response.link_expired",
            entity_type="response",
            entity_id=str(response.id),
            ip=ip,
            detail={"access_ends_at": str(access_ends_at(response, settings))},
        )
    raise LinkUnusable(reason)


async def end_access(
    session: AsyncSession, response: PatientResponse, actor: Actor, *, ip: str, now: datetime | None = None
) -> datetime:
    """End the patient's access now: their links and cookie open the "withdrawn" page from here on,
    the invitation is withdrawn too. When it had ended already nothing changes. Returns when it ended."""
    if response.access_ended_at is not None:
        return response.access_ended_at
    now = now or utcnow()
    response.access_ended_at = now
    session.add(response)
    invitation = await session.get(Invitation, response.invitation_id) if response.invitation_id else None
    if invitation is not None and invitation.revoked_at is None:
        invitation.revoked_at = now
        session.add(invitation)
    await session.flush()
    await task_status.access_ended(session, response.id, now=now)
    await record(
        session,
        actor,
        "response.access_ended",
        entity_type="response",
        entity_id=str(response.id),
        ip=ip,
    )
    return now


async def mark_opened(
    session: AsyncSession, response: PatientResponse, *, now: datetime | None = None
) -> None:
    """A link was opened: the idle lifetime starts again. A plain UPDATE, not through the mapper, so
    the row's lock_version stays (a form open in another tab is not made stale by this)."""
    opened = now or utcnow()
    await session.execute(
        update(PatientResponse).where(col(PatientResponse.id) == response.id).values(last_opened_at=opened)
    )
    set_committed_value(response, "last_opened_at", opened)


@dataclass(frozen=True)
class LinkRequest:
    """A request opening a patient's link: its unit of work, the engine that records a refusal on
    its own, the questionnaires served, and the client's address."""

    session: AsyncSession
    engine: AsyncEngine
    settings: Settings
    known_slugs: Container[str]
    ip: str


async def open_invitation_link(
    link: LinkRequest, token: str, *, now: datetime | None = None
) -> tuple[PatientResponse, str]:
    """Open the response behind an invitation link (on the record as `invitation.opened`)."""
    now = now or utcnow()
    session, engine, settings, ip = link.session, link.engine, link.settings, link.ip
    invitation = await find_usable_invitation(session, token, now=now)
    if invitation.questionnaire_slug not in link.known_slugs:
        raise LinkUnusable("unknown")
    existing = await session.get(PatientResponse, invitation.response_id) if invitation.response_id else None
    if existing is not None:  # an invitation link never outlives the patient's access
        await check_access(engine, existing, settings, ip=ip, now=now)
    try:
        response, cookie_token = await responses.open_invitation(session, invitation, link_token=token)
    except LookupError:
        raise LinkUnusable("unknown") from None
    await mark_opened(session, response, now=now)
    await record_patient_event(session, response.id, "invitation.opened", ip=ip)
    return response, cookie_token


async def open_resume_link(
    link: LinkRequest, token: str, *, now: datetime | None = None
) -> tuple[PatientResponse, str]:
    """The response a resume link belongs to. An invitation link used as a resume link opens the
    invitation first."""
    now = now or utcnow()
    session, engine, settings, ip = link.session, link.engine, link.settings, link.ip
    response = await responses.load_by_token(session, token)
    if response is None or response.questionnaire_slug not in link.known_slugs:
        raise LinkUnusable("unknown")
    await check_access(engine, response, settings, ip=ip, now=now)
    if response.status == ResponseStatus.INVITED:
        invitation = await find_usable_invitation(session, token, now=now)
        response, token = await responses.open_invitation(session, invitation, link_token=token)
    await mark_opened(session, response, now=now)
    return response, token

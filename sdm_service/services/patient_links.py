"""Opening a patient's link: an invitation link (/i/) or a resume link (/r/).

Either gives back the response and the token the patient's cookie will hold, or LinkUnusable
saying why not ("unknown", "expired", "revoked"), so the page can explain it.
"""

from __future__ import annotations

from collections.abc import Container

from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.audit import Actor, record
from sdm_service.models import PatientResponse, ResponseStatus
from sdm_service.services import responses
from sdm_service.services.invitations import InvitationUnusable, find_usable_invitation

LinkUnusable = InvitationUnusable  # .reason: "unknown" | "expired" | "revoked"


async def open_invitation_link(
    session: AsyncSession, token: str, known_slugs: Container[str], *, ip: str
) -> tuple[PatientResponse, str]:
    """Open the response behind an invitation link (on the record as `invitation.opened`)."""
    invitation = await find_usable_invitation(session, token)
    if invitation.questionnaire_slug not in known_slugs:
        raise LinkUnusable("unknown")
    try:
        response, cookie_token = await responses.open_invitation(session, invitation, link_token=token)
    except LookupError:
        raise LinkUnusable("unknown") from None
    await record(
        session,
        Actor("patient", str(response.id)),
        "invitation.opened",
        entity_type="response",
        entity_id=str(response.id),
        ip=ip,
    )
    return response, cookie_token


async def open_resume_link(
    session: AsyncSession, token: str, known_slugs: Container[str]
) -> tuple[PatientResponse, str]:
    """The response a resume link belongs to. An invitation link used as a resume link opens the
    invitation first."""
    response = await responses.load_by_token(session, token)
    if response is None or response.questionnaire_slug not in known_slugs:
        raise LinkUnusable("unknown")
    if response.status == ResponseStatus.INVITED:
        invitation = await find_usable_invitation(session, token)
        return await responses.open_invitation(session, invitation, link_token=token)
    return response, token

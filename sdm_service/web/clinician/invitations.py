"""Creating and revoking invitation links for patients.

The link holds a token that is stored only as a hash, so it can be shown exactly once: on the page
that answers the create request (never cached, never redirected to).
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.audit import listed, record_now
from sdm_service.content import ContentLibrary
from sdm_service.models import User, utcnow
from sdm_service.paths import CLINICIAN_PREFIX
from sdm_service.services import invitations
from sdm_service.settings import Settings
from sdm_service.web import auth
from sdm_service.web.clinician.common import FormError, audit, client_ip, field, page, parse_date, read_form

RECENT_LIMIT = 25
REVOKED_PATH = f"{CLINICIAN_PREFIX}/invitations?revoked=1"
FIELDS = ("patient_system", "patient_value", "patient_name", "consult_date", "language")


async def _invitations_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    user: User,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    created: invitations.NewInvitation | None = None,
    status_code: int = 200,
) -> Template:
    recent = await invitations.recent_invitations(db_session, RECENT_LIMIT)
    # The list shows names and MRNs: record which responses it showed, on every render.
    shown = listed(invitation.response_id for invitation in recent if invitation.response_id)
    if status_code < 400:
        await audit(request, db_session, user, "invitations.view", entity_type="invitation", detail=shown)
    else:  # this request rolls back: the view is recorded on its own
        await record_now(
            request.app.state.side_engine,
            auth.actor_for(user),
            "invitations.view",
            entity_type="invitation",
            ip=client_ip(request),
            detail=shown,
        )
    return page(
        "clinician/invitations.html",
        user,
        {
            "recent": recent,
            "values": values or dict.fromkeys(FIELDS, ""),
            "error": error,
            "created": created,
            "now": utcnow(),
            "revoked_now": request.query_params.get("revoked") == "1",
        },
        status_code=status_code,
    )


@get("/invitations", name="clinician:invitations", include_in_schema=False)
async def invitations_view(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    current_user: NamedDependency[User],
) -> Template:
    return await _invitations_page(request, db_session, current_user)


@post("/invitations", include_in_schema=False, status_code=200)
async def create_invitation(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    library: NamedDependency[ContentLibrary],
    current_user: NamedDependency[User],
) -> Template:
    form = await read_form(request)
    values = dict.fromkeys(FIELDS, "")
    try:
        for name in FIELDS:
            values[name] = field(form, name).strip()
        consult_date = parse_date(values["consult_date"], "Consult date")
        if consult_date is not None and consult_date < utcnow().date():
            raise FormError("Consult date: choose today or a later date.")
        created = await invitations.create_invitation(
            db_session,
            settings,
            library.get(settings.questionnaire_slug),
            patient_value=values["patient_value"],
            patient_system=values["patient_system"],
            patient_name=values["patient_name"],
            consult_date=consult_date,
            language=values["language"] or None,
            created_by_user_id=current_user.id,
        )
    except (FormError, invitations.InvitationError) as exc:
        return await _invitations_page(
            request, db_session, current_user, values=values, error=str(exc), status_code=400
        )
    await audit(
        request,
        db_session,
        current_user,
        "invitation.create",
        entity_type="invitation",
        entity_id=str(created.invitation.id),
        detail={"response_id": str(created.response.id)},
    )
    return await _invitations_page(request, db_session, current_user, created=created)


@post("/invitations/{invitation_id:uuid}/revoke", include_in_schema=False, status_code=303)
async def revoke_invitation(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    current_user: NamedDependency[User],
    invitation_id: FromPath[uuid.UUID],
) -> Redirect:
    try:
        invitation = await invitations.withdraw_invitation(db_session, invitation_id)
    except invitations.InvitationNotFound:
        raise NotFoundException("No invitation with this id.") from None
    if invitation is None:  # revoked already: a second click changes nothing, so records nothing
        return Redirect(REVOKED_PATH, status_code=303)
    await audit(
        request,
        db_session,
        current_user,
        "invitation.revoke",
        entity_type="invitation",
        entity_id=str(invitation.id),
        detail={"response_id": str(invitation.response_id) if invitation.response_id else None},
    )
    return Redirect(REVOKED_PATH, status_code=303)


routes = [invitations_view, create_invitation, revoke_invitation]

"""Creating and revoking invitation links for patients.

The link holds a token that is stored only as a hash, so it can be shown exactly once: on the page
that answers the create request (never cached, never redirected to).
"""

from __future__ import annotations

import uuid

from litestar import get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from sdm_service.audit import listed
from sdm_service.content import ContentLibrary
from sdm_service.models import utcnow
from sdm_service.paths import CLINICIAN_PREFIX
from sdm_service.services import invitations
from sdm_service.web.clinician.common import ClinicianCall, FormError, parse_date, read_fields

RECENT_LIMIT = 25
REVOKED_PATH = f"{CLINICIAN_PREFIX}/invitations?revoked=1"
FIELDS = ("patient_system", "patient_value", "patient_name", "consult_date", "language")


async def _invitations_page(
    call: ClinicianCall,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    created: invitations.NewInvitation | None = None,
    status_code: int = 200,
) -> Template:
    recent = await invitations.recent_invitations(call.db_session, RECENT_LIMIT)
    # The list shows names and MRNs: record which responses it showed, on every render (on its
    # own when this request answers with an error and rolls back).
    await call.audit(
        "invitations.view",
        entity_type="invitation",
        detail=listed(invitation.response_id for invitation in recent if invitation.response_id),
        on_its_own=status_code >= 400,
    )
    return call.page(
        "clinician/invitations.html",
        {
            "recent": recent,
            "values": values or dict.fromkeys(FIELDS, ""),
            "error": error,
            "created": created,
            "now": utcnow(),
            "revoked_now": call.query("revoked") == "1",
        },
        status_code=status_code,
    )


@get("/invitations", name="clinician:invitations", include_in_schema=False)
async def invitations_view(call: NamedDependency[ClinicianCall]) -> Template:
    return await _invitations_page(call)


@post("/invitations", include_in_schema=False, status_code=200)
async def create_invitation(
    call: NamedDependency[ClinicianCall], library: NamedDependency[ContentLibrary]
) -> Template:
    form = await call.form()
    values = dict.fromkeys(FIELDS, "")
    try:
        read_fields(form, values)
        consult_date = parse_date(values["consult_date"], "Consult date")
        if consult_date is not None and consult_date < utcnow().date():
            raise FormError("Consult date: choose today or a later date.")
        created = await invitations.create_invitation(
            call.db_session,
            call.settings,
            library.get(call.settings.questionnaire_slug),
            patient_value=values["patient_value"],
            patient_system=values["patient_system"],
            patient_name=values["patient_name"],
            consult_date=consult_date,
            language=values["language"] or None,
            created_by_user_id=call.current_user.id,
        )
    except (FormError, invitations.InvitationError) as exc:
        return await _invitations_page(call, values=values, error=str(exc), status_code=400)
    await call.audit(
        "invitation.create",
        entity_type="invitation",
        entity_id=str(created.invitation.id),
        detail={"response_id": str(created.response.id)},
    )
    return await _invitations_page(call, created=created)


@post("/invitations/{invitation_id:uuid}/revoke", include_in_schema=False, status_code=303)
async def revoke_invitation(
    call: NamedDependency[ClinicianCall], invitation_id: FromPath[uuid.UUID]
) -> Redirect:
    try:
        invitation = await invitations.withdraw_invitation(call.db_session, invitation_id)
    except invitations.InvitationNotFound:
        raise NotFoundException("No invitation with this id.") from None
    if invitation is not None:  # None: revoked already; a second click changes nothing, records nothing
        await call.audit(
            "invitation.revoke",
            entity_type="invitation",
            entity_id=str(invitation.id),
            detail={"response_id": str(invitation.response_id) if invitation.response_id else None},
        )
    return Redirect(REVOKED_PATH, status_code=303)


routes = [invitations_view, create_invitation, revoke_invitation]

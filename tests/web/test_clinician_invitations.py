"""Invitations from the clinician workspace: the link is shown once, with its expiry; revoking ends it."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from litestar import Litestar
from sqlalchemy import select

from sdm_service.models import Invitation, PatientResponse, ResponseStatus, utcnow
from sdm_service.security import hash_token
from sdm_service.services import invitations
from tests.web.clinician_support import Client, audit_events, db, post_form, signed_in

LINK = re.compile(r'id="invitation-link" type="text" readonly value="([^"]+)"')


async def _rows(app: Litestar) -> tuple[list[Invitation], list[PatientResponse]]:
    async with db(app) as session:
        return (
            list((await session.execute(select(Invitation))).scalars().all()),
            list((await session.execute(select(PatientResponse))).scalars().all()),
        )


async def test_create_shows_the_link_once_with_its_expiry(client: Client, app: Litestar) -> None:
    user_id = await signed_in(client, app, "inviter")
    consult = utcnow().date() + timedelta(days=10)
    created = await post_form(
        client,
        "/clinician/invitations",
        {
            "patient_value": "MRN-555",
            "patient_system": "urn:oid:1.2.3",
            "patient_name": "Lena Park",
            "consult_date": consult.isoformat(),
        },
    )
    assert created.status_code == 200
    assert created.headers["cache-control"] == "no-store"
    match = LINK.search(created.text)
    assert match, created.text
    url = html.unescape(match.group(1))
    assert url.startswith("http://testserver.local/i/")
    token = url.rsplit("/", 1)[1]
    assert "It is shown only once" in created.text
    assert "The link works until" in created.text

    (invitation,), (response,) = await _rows(app)
    assert invitation.token_hash == hash_token(token)
    assert invitation.created_by_user_id == user_id
    assert invitation.expires_at.strftime("%Y-%m-%d %H:%M UTC") in created.text
    assert (response.status, response.patient_value, response.patient_name) == (
        ResponseStatus.INVITED,
        "MRN-555",
        "Lena Park",
    )
    assert response.consult_date == consult

    # Shown once: the list page names the patient but never carries the link again.
    listing = await client.get("/clinician/invitations")
    assert "Lena Park" in listing.text
    assert token not in listing.text
    # The new response is on the worklist as invited.
    assert "Invited" in (await client.get("/clinician")).text

    (event,) = await audit_events(app, "invitation.create")
    assert (event.actor_label, event.entity_id, event.detail["response_id"]) == (
        "inviter",
        str(invitation.id),
        str(response.id),
    )
    assert token not in str(event.detail)


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"patient_value": ""}, "Patient identifier is required."),
        ({"patient_value": "x" * 101}, "100 characters or fewer"),
        ({"patient_value": "A", "consult_date": "2026-13-01"}, "enter a real date"),
        ({"patient_value": "A", "consult_date": "2000-01-01"}, "today or a later date"),
        ({"patient_value": "A", "patient_name": "Bad\x01Name"}, "control characters"),
    ],
)
async def test_bad_invitation_input_is_explained_and_nothing_is_stored(
    client: Client, app: Litestar, form: dict[str, str], message: str
) -> None:
    await signed_in(client, app, "inviter")
    response = await post_form(client, "/clinician/invitations", form)
    assert response.status_code == 400
    assert message in response.text
    assert await _rows(app) == ([], [])
    assert await audit_events(app, "invitation.create") == []


async def test_revoking_ends_the_link(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "inviter")
    created = await post_form(client, "/clinician/invitations", {"patient_value": "MRN-9"})
    token = html.unescape(LINK.search(created.text).group(1)).rsplit("/", 1)[1]  # type: ignore[union-attr]
    (invitation,), _ = await _rows(app)

    listing = await client.get("/clinician/invitations")
    assert f'action="/clinician/invitations/{invitation.id}/revoke"' in listing.text

    revoked = await post_form(client, f"/clinician/invitations/{invitation.id}/revoke")
    assert revoked.status_code == 303
    after = await client.get(revoked.headers["location"])
    assert "The invitation was revoked" in after.text
    assert f'action="/clinician/invitations/{invitation.id}/revoke"' not in after.text
    async with db(app) as session:
        with pytest.raises(invitations.InvitationUnusable) as caught:
            await invitations.find_usable_invitation(session, token)
    assert caught.value.reason == "revoked"
    (event,) = await audit_events(app, "invitation.revoke")
    assert (event.actor_label, event.entity_id) == ("inviter", str(invitation.id))
    # Revoking again (a double click) changes nothing and adds nothing to the log.
    again = await post_form(client, f"/clinician/invitations/{invitation.id}/revoke")
    assert again.status_code == 303
    assert len(await audit_events(app, "invitation.revoke")) == 1


async def test_revoking_an_unknown_invitation_is_not_found(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "inviter")
    response = await post_form(client, "/clinician/invitations/00000000-0000-4000-8000-000000000000/revoke")
    assert response.status_code == 404
    assert await audit_events(app, "invitation.revoke") == []

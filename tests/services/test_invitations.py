from __future__ import annotations

from datetime import date, timedelta

import pytest
from litestar import Litestar
from sqlalchemy import select

from sdm_service.content import Content, ContentLibrary
from sdm_service.models import Invitation, PatientResponse, ResponseStatus, utcnow
from sdm_service.services import invitations
from sdm_service.settings import Settings
from tests.database import db


def content(app: Litestar) -> Content:
    library: ContentLibrary = app.state.library
    return library.get("iort-sdm")


async def test_link_token_is_stored_only_as_a_hash(app: Litestar, settings: Settings) -> None:
    async with db(app) as session:
        created = await invitations.create_invitation(
            session,
            settings,
            content(app),
            patient_value="MRN-1",
            patient_name="Ana",
            consult_date=date(2026, 12, 1),
        )
        await session.commit()
        stored = (await session.execute(select(Invitation))).scalar_one()
        response = (await session.execute(select(PatientResponse))).scalar_one()
    assert len(created.token) >= 43  # 256 bits, url-safe
    assert response.status == ResponseStatus.INVITED
    assert stored.response_id == response.id
    assert (response.patient_value, response.patient_name) == ("MRN-1", "Ana")
    assert response.consult_date == date(2026, 12, 1)
    assert created.url == f"{settings.base_url}/i/{created.token}"
    assert created.token not in stored.token_hash
    assert stored.patient_value == "MRN-1"


async def test_unknown_expired_and_revoked_links_say_why(app: Litestar, settings: Settings) -> None:
    async with db(app) as session:
        fresh = await invitations.create_invitation(session, settings, content(app), patient_value="A")
        old = await invitations.create_invitation(
            session, settings, content(app), patient_value="B", ttl_days=1, now=utcnow() - timedelta(days=2)
        )
        revoked = await invitations.create_invitation(session, settings, content(app), patient_value="C")
        await invitations.revoke_invitation(session, revoked.invitation.id)
        await session.commit()

        assert (await invitations.find_usable_invitation(session, fresh.token)).patient_value == "A"
        for token, reason in ((old.token, "expired"), (revoked.token, "revoked"), ("nope", "unknown")):
            with pytest.raises(invitations.InvitationUnusable) as caught:
                await invitations.find_usable_invitation(session, token)
            assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"patient_value": "  "}, "Patient identifier is required"),
        ({"patient_value": "x" * 101}, "100 characters"),
        ({"patient_value": "ok", "ttl_days": 0}, "between 1 and 365"),
        ({"patient_value": "a\x00b"}, "control characters"),
    ],
)
async def test_bad_input_is_refused_clearly(
    app: Litestar, settings: Settings, fields: dict[str, object], message: str
) -> None:
    async with db(app) as session:
        with pytest.raises(invitations.InvitationError, match=message):
            await invitations.create_invitation(session, settings, content(app), **fields)  # type: ignore[arg-type]

"""The administrators' API-clients page: lists clients without their tokens and revokes them."""

from __future__ import annotations

import re
import uuid

from litestar import Litestar

from sdm_service.models import Role
from sdm_service.services import api_clients
from tests.api.conftest import bearer
from tests.database import db
from tests.web.clinician_support import Client, audit_events, post_form, signed_in


async def test_an_admin_sees_clients_and_revokes_one(client: Client, app: Litestar) -> None:
    async with db(app) as session:
        token = (await api_clients.create_api_client(session, "Epic production", "responses:read")).token
        await session.commit()
    await signed_in(client, app, "boss", role=Role.ADMIN)
    page = await client.get("/clinician/admin/api-clients")
    assert page.status_code == 200
    assert "Epic production" in page.text
    assert token[:8] in page.text
    assert token not in page.text
    action = re.search(r'action="(/clinician/admin/api-clients/[^"]+/revoke)"', page.text)
    assert action is not None

    revoked = await post_form(client, action.group(1))
    assert revoked.status_code == 303
    after = await client.get(revoked.headers["location"])
    assert "is revoked" in after.text
    assert "Revoked" in after.text
    (event,) = await audit_events(app, "api_client.revoke")
    assert event.actor_type == "clinician"
    api = await client.get("/api/v1/responses", headers=bearer(token))
    assert api.status_code == 401


async def test_clinicians_cannot_open_the_page(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "nurse", role=Role.CLINICIAN)
    assert (await client.get("/clinician/admin/api-clients")).status_code == 403
    client.cookies.clear()
    anonymous = await client.get("/clinician/admin/api-clients", follow_redirects=False)
    assert anonymous.status_code in (302, 303)


async def test_revoking_an_unknown_client_is_not_found(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "boss", role=Role.ADMIN)
    response = await post_form(client, f"/clinician/admin/api-clients/{uuid.uuid4()}/revoke")
    assert response.status_code == 404
    assert await audit_events(app, "api_client.revoke") == []

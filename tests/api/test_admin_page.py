"""The administrators' API-clients page: lists clients without their tokens and revokes them."""

from __future__ import annotations

import re

from litestar import Litestar

from sdm_service.models import Role
from tests.api.conftest import MakeToken, bearer
from tests.web.clinician_support import Client, audit_events, post_form, signed_in


async def test_an_admin_sees_clients_and_revokes_one(
    client: Client, app: Litestar, make_token: MakeToken
) -> None:
    token = await make_token("responses:read", name="Epic production")
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

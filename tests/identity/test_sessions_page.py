"""Seeing and ending one's sessions (issue 18, ASVS 3.3.4); administrators end anyone's."""

from __future__ import annotations

import re

from litestar import Litestar

from sdm_service.models import Role
from tests.identity.support import another_browser
from tests.web.clinician_support import Client, audit_events, create_account, post_form, sign_in, signed_in


def _session_ids(html: str) -> list[str]:
    return re.findall(r'action="/clinician/account/sessions/([0-9a-f]+)/end"', html)


async def test_the_page_lists_each_browser_and_signs_one_out(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "dr.lee")
    async with another_browser(client) as laptop:
        laptop.headers["user-agent"] = "LaptopBrowser/1.0"
        assert (await sign_in(laptop, "dr.lee")).status_code == 303
        page = await client.get("/clinician/account/sessions")
        assert page.status_code == 200
        assert "LaptopBrowser/1.0" in page.text
        assert "(this browser)" in page.text
        assert page.text.count("<td>testclient</td>") >= 2  # from where (and the default browser name)
        ids = _session_ids(page.text)
        assert len(ids) == 2
        # The laptop's session is the newer one (listed first).
        ended = await post_form(client, f"/clinician/account/sessions/{ids[0]}/end")
        assert ended.status_code == 303
        assert (await laptop.get("/clinician", follow_redirects=False)).status_code == 303
        assert (await client.get("/clinician")).status_code == 200
        assert len(_session_ids((await client.get("/clinician/account/sessions")).text)) == 1
    assert len(await audit_events(app, "auth.session.end")) == 1


async def test_a_session_id_of_someone_else_is_not_found(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "dr.lee")
    async with another_browser(client) as other:
        await signed_in(other, app, "dr.other")
        (other_id,) = _session_ids((await other.get("/clinician/account/sessions")).text)
        assert (await post_form(client, f"/clinician/account/sessions/{other_id}/end")).status_code == 404
        assert (await other.get("/clinician")).status_code == 200


async def test_sign_out_everywhere(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "dr.lee")
    async with another_browser(client) as laptop:
        await sign_in(laptop, "dr.lee")
        response = await post_form(client, "/clinician/account/sessions/end-all")
        assert response.status_code == 303
        assert response.headers["location"] == "/clinician/sign-in?signed_out=1"
        for browser in (client, laptop):
            assert (await browser.get("/clinician", follow_redirects=False)).status_code == 303
    (event,) = await audit_events(app, "auth.session.end_all")
    assert event.detail["sessions_ended"] == 2


async def test_an_admin_ends_another_users_sessions(client: Client, app: Litestar) -> None:
    target = await create_account(app, "dr.lee")
    async with another_browser(client) as victim:
        await sign_in(victim, "dr.lee")
        await signed_in(client, app, "boss", role=Role.ADMIN)
        page = await client.get(f"/clinician/admin/users/{target}")
        assert "Active sessions</dt><dd>1" in page.text
        response = await post_form(client, f"/clinician/admin/users/{target}/sessions/end")
        assert response.status_code == 303
        assert (await victim.get("/clinician", follow_redirects=False)).status_code == 303
    (event,) = await audit_events(app, "auth.session.end_all")
    assert (event.actor_label, event.entity_id) == ("boss", str(target))


async def test_a_clinician_cannot_end_another_users_sessions(client: Client, app: Litestar) -> None:
    target = await create_account(app, "dr.lee")
    await signed_in(client, app, "dr.other")
    assert (await post_form(client, f"/clinician/admin/users/{target}/sessions/end")).status_code == 403

"""Revoking an invitation ends every way into the response: the link, the resume link, the cookie."""

from __future__ import annotations

from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.services import invitations
from sdm_service.settings import Settings
from tests.security.support import stored
from tests.web.patient_support import (
    BASE,
    content_of,
    db,
    post_step,
    resume_link,
    step_values,
)

Client = AsyncTestClient[Litestar]
PASSWORD = "a-long-enough-password-42"


async def test_revoking_an_opened_invitation_ends_the_resume_link_and_the_cookie(
    client: Client, app: Litestar, settings: Settings
) -> None:
    async with db(app) as session:
        created = await invitations.create_invitation(
            session, settings, content_of(app), patient_value="MRN-88", patient_name="Sam Ode"
        )
        await session.commit()
    opened = await client.get(f"/i/{created.token}")
    assert opened.status_code == 200
    assert str(opened.url).endswith(f"{BASE}/step/1")
    resume_path = resume_link(opened.text).removeprefix(settings.base_url)
    assert resume_path.startswith("/r/")
    saved = await post_step(client, 1, step_values(content_of(app), {}, 0))
    assert saved.status_code == 200
    assert (await stored(app, created.response.id)).answers  # something to protect
    step_page = await client.get(f"{BASE}/step/1")
    assert step_page.status_code == 200
    assert 'name="lock_version"' in step_page.text
    assert "checked" in step_page.text  # the saved answers show while the link is valid

    async with db(app) as session:
        await invitations.revoke_invitation(session, created.invitation.id)
        await session.commit()
    assert (await stored(app, created.response.id)).resume_token_hash is None

    # The same browser (its cookie holds the resume token) no longer gets in.
    after = await client.get(f"{BASE}/step/1", follow_redirects=False)
    assert after.status_code == 403  # the patient flow's "we could not find your answers" page
    assert "We could not find your answers" in after.text
    assert 'name="lock_version"' not in after.text
    assert "checked" not in after.text
    # Nor does the saved resume link, in this browser or a fresh one.
    for fresh in (False, True):
        if fresh:
            client.cookies.clear()
        via_resume = await client.get(resume_path)
        assert via_resume.status_code in (404, 410), via_resume.text
        assert 'name="lock_version"' not in via_resume.text
        assert "checked" not in via_resume.text
    via_invitation = await client.get(f"/i/{created.token}")
    assert via_invitation.status_code == 410

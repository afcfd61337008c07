"""A patient's links expire: an idle lifetime, an absolute one after completion, and a clinician or
the API can end access at any time; the patient then sees a calm page saying how to get a new link
(410), and the expiry or the ending is on the audit record (issue 15 item 1).

Time passes by moving the response's stored timestamps back (the service's clock is injectable
too: see test_the_lifetimes_are_pure_functions_of_the_clock)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import update
from sqlmodel import col

from sdm_service.models import PatientResponse, ResponseStatus, utcnow
from sdm_service.services import api_clients, patient_links
from sdm_service.settings import Settings
from tests.security.support import stored
from tests.web.clinician_support import audit_events, post_form, signed_in
from tests.web.patient_support import BASE, answer_all, content_of, db, patient_token, start, submit

Client = AsyncTestClient[Litestar]
CALM = "ask for a new link"


async def api_token(app: Litestar, scopes: str = "invitations:write,responses:read") -> dict[str, str]:
    async with db(app) as session:
        created = await api_clients.create_api_client(session, f"EHR {uuid.uuid4()}", scopes)
        await session.commit()
    return {"Authorization": f"Bearer {created.token}"}


async def _response_id(app: Litestar, client: Client) -> uuid.UUID:
    from sdm_service.services.responses import load_by_token

    async with db(app) as session:
        row = await load_by_token(session, patient_token(client))
        assert row is not None
        return row.id


async def _age(app: Litestar, response_id: uuid.UUID, days: float) -> None:
    """Move every timestamp of the response `days` into the past: as if that much time passed."""
    shift = timedelta(days=days)
    row = await stored(app, response_id)
    values: dict[str, datetime | None] = {
        "created_at": row.created_at - shift,
        "updated_at": row.updated_at - shift,
        "completed_at": row.completed_at - shift if row.completed_at else None,
        "last_opened_at": row.last_opened_at - shift if row.last_opened_at else None,
    }
    async with db(app) as session:
        await session.execute(
            update(PatientResponse).where(col(PatientResponse.id) == response_id).values(**values)
        )
        await session.commit()


async def _completed(app: Litestar, client: Client) -> tuple[uuid.UUID, str]:
    await start(client)
    await answer_all(client, content_of(app))
    done = await submit(client)
    assert str(done.url).endswith(f"{BASE}/summary"), done.url
    return await _response_id(app, client), patient_token(client)


def _calm_410(answer: object, reason_words: str) -> None:
    status = answer.status_code
    text = answer.text
    assert status == 410, (status, text[:300])
    assert reason_words in text
    assert CALM in text
    assert "Your summary" not in text
    assert 'name="lock_version"' not in text


async def test_a_resume_link_ends_after_its_lifetime_following_completion(
    app: Litestar, client: Client, settings: Settings
) -> None:
    response_id, token = await _completed(app, client)
    assert (await client.get(f"/r/{token}", follow_redirects=False)).status_code == 303

    # The patient opens the link every few weeks (so it never idles out) until past the limit.
    step = settings.resume_idle_days - 10
    passed = 0
    while passed + step < settings.resume_after_completion_days:
        await _age(app, response_id, step)
        passed += step
        assert (await client.get(f"/r/{token}", follow_redirects=False)).status_code == 303, passed
    await _age(app, response_id, step)  # past the limit after completion, though used recently

    client.cookies.clear()
    _calm_410(await client.get(f"/r/{token}"), "expired")
    # the PDF and the summary are closed to the cookie too
    client.cookies.set(settings.cookies.patient, token)
    _calm_410(await client.get(f"{BASE}/summary"), "expired")
    assert (await client.get(f"{BASE}/summary.pdf")).status_code == 410
    expired = [e for e in await audit_events(app, "response.link_expired") if e.entity_id == str(response_id)]
    assert expired, "the expiry is on the audit record"


async def test_an_unused_link_expires_after_the_idle_lifetime(
    app: Litestar, client: Client, settings: Settings
) -> None:
    await start(client)
    token = patient_token(client)
    response_id = await _response_id(app, client)
    await _age(app, response_id, settings.resume_idle_days - 1)
    assert (await client.get(f"/r/{token}", follow_redirects=False)).status_code == 303
    await _age(app, response_id, settings.resume_idle_days - 1)  # opening it above restarted the clock
    assert (await client.get(f"/r/{token}", follow_redirects=False)).status_code == 303
    await _age(app, response_id, settings.resume_idle_days + 1)
    _calm_410(await client.get(f"/r/{token}"), "expired")
    _calm_410(await client.get(f"{BASE}/step/1"), "expired")
    welcome = await client.get(BASE)
    assert welcome.status_code == 200
    assert "You have answers saved on this device" not in welcome.text  # nothing offered to continue


async def test_an_invitation_link_no_longer_opens_a_summary_after_the_completion_lifetime(
    app: Litestar, client: Client, settings: Settings
) -> None:
    headers = await api_token(app)
    created = await client.post(
        "/api/v1/invitations", json={"patient": {"value": "MRN-365"}, "ttl_days": 365}, headers=headers
    )
    assert created.status_code == 201, created.text
    link = created.json()["url"].removeprefix(settings.base_url)
    response_id = uuid.UUID(created.json()["response_id"])
    opened = await client.get(link)
    assert opened.status_code == 200
    await answer_all(client, content_of(app))
    await submit(client)
    assert (await stored(app, response_id)).status == ResponseStatus.COMPLETED

    await _age(app, response_id, settings.resume_after_completion_days + 1)
    client.cookies.clear()
    _calm_410(await client.get(link), "expired")


async def test_a_clinician_can_end_a_patients_access_from_the_response_page(
    app: Litestar, client: Client, settings: Settings
) -> None:
    response_id, token = await _completed(app, client)
    patient_cookies = dict(client.cookies)
    client.cookies.clear()
    await signed_in(client, app, "dr-ends")
    page = await client.get(f"/clinician/responses/{response_id}")
    assert f"/clinician/responses/{response_id}/end-access" in page.text
    refused = await client.post(f"/clinician/responses/{response_id}/end-access", follow_redirects=False)
    assert refused.status_code == 403  # no CSRF token, nothing ended
    assert (await stored(app, response_id)).access_ended_at is None
    ended = await post_form(client, f"/clinician/responses/{response_id}/end-access")
    assert ended.status_code == 303
    assert "has ended" in (await client.get(ended.headers["location"])).text
    assert (await stored(app, response_id)).access_ended_at is not None
    assert [e.entity_id for e in await audit_events(app, "response.access_ended")] == [str(response_id)]

    client.cookies.clear()
    _calm_410(await client.get(f"/r/{token}"), "stopped")
    client.cookies.update(patient_cookies)
    _calm_410(await client.get(f"{BASE}/summary"), "stopped")


async def test_the_api_can_end_a_patients_access(app: Litestar, client: Client) -> None:
    response_id, token = await _completed(app, client)
    client.cookies.clear()
    read_only = await api_token(app, "responses:read")
    assert (
        await client.post(f"/api/v1/responses/{response_id}/end-access", headers=read_only)
    ).status_code == 403
    headers = await api_token(app)
    missing = await client.post(f"/api/v1/responses/{uuid.uuid4()}/end-access", headers=headers)
    assert missing.status_code == 404
    ended = await client.post(f"/api/v1/responses/{response_id}/end-access", headers=headers)
    assert ended.status_code == 200, ended.text
    assert ended.json()["response_id"] == str(response_id)
    again = await client.post(f"/api/v1/responses/{response_id}/end-access", headers=headers)
    assert again.json()["access_ended_at"] == ended.json()["access_ended_at"]  # once, not moved
    assert len(await audit_events(app, "response.access_ended")) == 1
    _calm_410(await client.get(f"/r/{token}"), "stopped")
    assert (await client.get(f"/api/v1/responses/{response_id}", headers=headers)).status_code == 200


def test_the_lifetimes_are_pure_functions_of_the_clock(settings: Settings) -> None:
    now = utcnow()
    response = PatientResponse(
        questionnaire_slug="iort-sdm",
        questionnaire_version="1",
        status=ResponseStatus.COMPLETED,
        created_at=now,
        updated_at=now,
        completed_at=now,
    )
    reason = patient_links.refusal_reason
    assert reason(response, settings, now) is None
    idle = timedelta(days=settings.resume_idle_days)
    assert reason(response, settings, now + idle - timedelta(seconds=1)) is None
    assert reason(response, settings, now + idle) == "expired"
    response.last_opened_at = now + idle - timedelta(days=1)
    after = timedelta(days=settings.resume_after_completion_days)
    assert reason(response, settings, now + idle) is None
    assert reason(response, settings, now + after) == "expired"
    response.status = ResponseStatus.INVITED  # never opened: the invitation's own expiry applies
    response.completed_at = None
    assert reason(response, settings, now + after) is None
    response.access_ended_at = now
    assert reason(response, settings, now) == "revoked"


@pytest.mark.parametrize(("name", "value"), [("resume_idle_days", 0), ("resume_after_completion_days", 0)])
def test_lifetimes_must_be_at_least_a_day(name: str, value: int) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Settings(**{name: value})  # type: ignore[arg-type]

"""Clinician sign-in, sessions and access control: who gets in, who gets nothing."""

from __future__ import annotations

import asyncio
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import func, select, update
from sqlmodel import col

from sdm_service import ratelimit
from sdm_service.db import create_engine
from sdm_service.models import PatientResponse, RateCounter, ResponseStatus, Role, User, UserSession, utcnow
from sdm_service.security import hash_token, new_token
from sdm_service.services import api_clients, sessions, signin, users
from sdm_service.settings import Settings
from sdm_service.web import auth
from tests.conftest import make_settings
from tests.web.clinician_support import (
    PASSWORD,
    Client,
    add_response,
    audit_events,
    create_account,
    db,
    post_form,
    sign_in,
    signed_in,
)

WORKSPACE_PAGES = ("/clinician", "/clinician/invitations")


async def _sessions(app: Litestar) -> list[UserSession]:
    async with db(app) as session:
        return list((await session.execute(select(UserSession))).scalars().all())


async def test_sign_in_sets_a_protected_session_cookie_and_stores_only_its_hash(
    client: Client, app: Litestar
) -> None:
    user_id = await create_account(app, "dr.lee")
    response = await sign_in(client, "Dr.Lee", next_path="/clinician/invitations")

    assert response.status_code == 303
    assert response.headers["location"] == "/clinician/invitations"
    set_cookie = response.headers["set-cookie"].lower()
    assert "sdm_session=" in set_cookie
    assert "httponly" in set_cookie
    assert "samesite=lax" in set_cookie
    assert "path=/clinician" in set_cookie
    assert "secure" not in set_cookie  # plain http in tests; production adds Secure (below)
    token = client.cookies.get("sdm_session")
    assert token
    (stored,) = await _sessions(app)
    assert stored.user_id == user_id
    assert stored.token_hash == hash_token(token)
    assert token not in stored.token_hash

    page = await client.get("/clinician")
    assert page.status_code == 200
    assert "Signed in as dr.lee" in page.text
    (event,) = await audit_events(app, "auth.sign_in")
    assert (event.actor_type, event.actor_label, event.entity_id) == ("clinician", "dr.lee", str(user_id))
    assert event.ip  # from where
    assert event.occurred_at is not None  # when


def test_session_cookie_is_secure_in_production(sqlite_url: str) -> None:
    settings = make_settings(sqlite_url, env="production", base_url="https://sdm.example.org")
    cookie = auth.session_cookie(settings, "token")
    assert cookie.secure is True
    assert cookie.httponly is True
    assert cookie.samesite == "lax"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/clinician/responses/abc?x=1", "/clinician/responses/abc?x=1"),
        ("/clinician", "/clinician"),
        ("https://evil.example/clinician", "/clinician"),
        ("//evil.example/clinician", "/clinician"),
        ("/\\evil.example", "/clinician"),
        ("javascript:alert(1)", "/clinician"),
        ("/q/iort-sdm", "/clinician"),
        ("/clinicianx", "/clinician"),
        ("/clinician/sign-in", "/clinician"),
        ("", "/clinician"),
        (None, "/clinician"),
    ],
)
def test_next_only_leads_inside_the_workspace(target: str | None, expected: str) -> None:
    assert auth.safe_next(target) == expected


async def test_unknown_user_wrong_password_and_deactivated_account_get_the_same_answer(
    client: Client, app: Litestar
) -> None:
    await create_account(app, "active.one")
    gone_id = await create_account(app, "gone.one")
    async with db(app) as session:
        gone = await session.get(User, gone_id)
        assert gone is not None
        await users.deactivate_user(session, gone)
        await session.commit()

    answers = [
        await sign_in(client, "nobody.here", PASSWORD),
        await sign_in(client, "active.one", "wrong-password-123"),
        await sign_in(client, "gone.one", PASSWORD),
    ]
    for response in answers:
        assert response.status_code == 401
        assert "do not match an active account" in response.text
        assert "sdm_session" not in response.headers.get("set-cookie", "")
    assert answers[0].text.replace("nobody.here", "X") == answers[1].text.replace("active.one", "X")
    failed = await audit_events(app, "auth.sign_in.failed")
    assert [e.actor_label for e in failed] == ["nobody.here", "active.one", "gone.one"]
    assert all(e.actor_type == "anonymous" and e.ip for e in failed)
    assert await _sessions(app) == []


async def test_empty_form_is_refused_with_a_clear_message(client: Client, app: Litestar) -> None:
    response = await sign_in(client, "", "")
    assert response.status_code == 400
    assert "Enter your username and password." in response.text


async def test_failed_sign_ins_are_throttled_per_account(client: Client, app: Litestar) -> None:
    await create_account(app, "target")
    for _ in range(5):
        assert (await sign_in(client, "target", "not-the-password")).status_code == 401
    throttled = await sign_in(client, "target", PASSWORD)  # even the right password waits
    assert throttled.status_code == 429
    assert 1 <= int(throttled.headers["retry-after"]) <= 15 * 60
    assert "too many failed sign-in attempts" in throttled.text
    assert await _sessions(app) == []
    assert len(await audit_events(app, "auth.sign_in.throttled")) == 1
    # Another account from the same address is not locked by this one.
    await create_account(app, "colleague")
    assert (await sign_in(client, "colleague")).status_code == 303


async def test_failed_sign_ins_are_throttled_per_address(client: Client, app: Litestar) -> None:
    await create_account(app, "real.user")
    for number in range(20):
        assert (await sign_in(client, f"guess{number}", "whatever-password")).status_code == 401
    response = await sign_in(client, "real.user")
    assert response.status_code == 429
    assert int(response.headers["retry-after"]) >= 1


async def test_a_successful_sign_in_clears_the_account_counter(client: Client, app: Litestar) -> None:
    await create_account(app, "forgetful")
    for _ in range(4):
        await sign_in(client, "forgetful", "not-the-password")
    assert (await sign_in(client, "forgetful")).status_code == 303
    for _ in range(4):
        assert (await sign_in(client, "forgetful", "not-the-password")).status_code == 401


async def test_sign_out_deletes_the_session(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "leaving")
    token = client.cookies.get("sdm_session")
    response = await post_form(client, "/clinician/sign-out")
    assert response.status_code == 303
    assert response.headers["location"].startswith("/clinician/sign-in")
    assert await _sessions(app) == []
    assert len(await audit_events(app, "auth.sign_out")) == 1
    # The old token is worthless even if someone kept it.
    client.cookies.set("sdm_session", str(token), domain="testserver.local", path="/clinician")
    assert (await client.get("/clinician", follow_redirects=False)).status_code == 303


async def test_anonymous_pages_redirect_to_sign_in_with_a_safe_next(client: Client, app: Litestar) -> None:
    response_id = await add_response(app)
    for path in (*WORKSPACE_PAGES, f"/clinician/responses/{response_id}", "/clinician/admin/audit"):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/clinician/sign-in")
    response = await client.get("/clinician/invitations?x=1", follow_redirects=False)
    assert response.headers["location"] == "/clinician/sign-in?next=/clinician/invitations%3Fx%3D1"
    pdf = await client.get(f"/clinician/responses/{response_id}/summary.pdf", follow_redirects=False)
    assert pdf.status_code == 303
    assert b"%PDF" not in pdf.content


async def test_anonymous_actions_are_refused(client: Client, app: Litestar) -> None:
    response_id = await add_response(app)
    for path in (
        f"/clinician/responses/{response_id}/review",
        "/clinician/invitations",
        "/clinician/admin/users",
    ):
        response = await post_form(client, path, {"note": "x", "patient_value": "X", "username": "x"})
        assert response.status_code == 401, path
    async with db(app) as session:
        stored = await session.get(PatientResponse, response_id)
        assert stored is not None
        assert stored.status == ResponseStatus.COMPLETED
        assert (await session.execute(select(User))).first() is None


async def test_a_patient_session_or_an_api_token_opens_nothing(client: Client, app: Litestar) -> None:
    response_id = await add_response(app)
    patient_token = new_token()
    async with db(app) as session:
        await session.execute(
            update(PatientResponse)
            .where(col(PatientResponse.id) == response_id)
            .values(resume_token_hash=hash_token(patient_token))
        )
        created = await api_clients.create_api_client(session, "ehr", list(api_clients.SCOPES))
        await session.commit()

    client.cookies.set("sdm_patient", patient_token, domain="testserver.local", path="/")
    paths = (
        *WORKSPACE_PAGES,
        f"/clinician/responses/{response_id}",
        f"/clinician/responses/{response_id}/summary.pdf",
    )
    for path in paths:
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/clinician/sign-in")
    client.cookies.clear()
    for path in paths:
        response = await client.get(
            path, headers={"Authorization": f"Bearer {created.token}"}, follow_redirects=False
        )
        assert response.status_code == 303, path
        assert "Maria" not in response.text
    # A patient's token used as a clinician cookie is just an unknown session.
    client.cookies.set("sdm_session", patient_token, domain="testserver.local", path="/clinician")
    assert (await client.get("/clinician", follow_redirects=False)).status_code == 303


async def test_a_clinician_cannot_open_admin_pages(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "plain.clinician")
    for path in ("/clinician/admin/users", "/clinician/admin/audit"):
        response = await client.get(path, follow_redirects=False)
        assert response.status_code == 403, path
    response = await post_form(
        client,
        "/clinician/admin/users",
        {"username": "sneaky", "password": PASSWORD, "password_confirm": PASSWORD, "role": "admin"},
    )
    assert response.status_code == 403
    async with db(app) as session:
        assert await users.find_by_username(session, "sneaky") is None


async def test_forms_without_the_csrf_token_are_refused(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "csrf.check", role=Role.ADMIN)
    response_id = await add_response(app)
    response = await client.post(
        f"/clinician/responses/{response_id}/review", data={"note": "x"}, follow_redirects=False
    )
    assert response.status_code == 403
    response = await client.post("/clinician/sign-in", data={"username": "a", "password": "b"})
    assert response.status_code == 403
    assert await audit_events(app, "response.review") == []


async def _age_session(app: Litestar, **changes: object) -> None:
    async with db(app) as session:
        await session.execute(update(UserSession).values(**changes))
        await session.commit()


async def test_sessions_end_at_their_lifetime(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "time.up")
    await _age_session(app, expires_at=utcnow() - timedelta(seconds=1))
    response = await client.get("/clinician", follow_redirects=False)
    assert response.status_code == 303
    assert await _sessions(app) == []  # the expired row is removed


async def test_sessions_end_after_being_idle(client: Client, app: Litestar, settings: Settings) -> None:
    await signed_in(client, app, "idle.user")
    assert (await client.get("/clinician")).status_code == 200
    await _age_session(app, last_seen_at=utcnow() - sessions.idle_limit(settings) - timedelta(seconds=1))
    assert (await client.get("/clinician", follow_redirects=False)).status_code == 303


async def test_activity_keeps_a_session_alive(client: Client, app: Litestar, settings: Settings) -> None:
    await signed_in(client, app, "busy.user")
    almost_idle = utcnow() - sessions.idle_limit(settings) + timedelta(minutes=1)
    await _age_session(app, last_seen_at=almost_idle)
    assert (await client.get("/clinician")).status_code == 200
    (row,) = await _sessions(app)
    assert row.last_seen_at > almost_idle


async def test_a_deactivated_clinician_loses_access_at_once(client: Client, app: Litestar) -> None:
    user_id = await signed_in(client, app, "soon.gone")
    assert (await client.get("/clinician")).status_code == 200
    async with db(app) as session:
        await session.execute(update(User).where(col(User.id) == user_id).values(is_active=False))
        await session.commit()
    assert (await client.get("/clinician", follow_redirects=False)).status_code == 303


async def test_signing_in_again_replaces_the_old_session(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "twice")
    first = client.cookies.get("sdm_session")
    assert (await sign_in(client, "twice")).status_code == 303
    second = client.cookies.get("sdm_session")
    assert first != second
    (row,) = await _sessions(app)
    assert row.token_hash == hash_token(str(second))


async def test_sign_in_page_sends_a_signed_in_user_on(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "already.in")
    response = await client.get("/clinician/sign-in?next=/clinician/invitations", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/clinician/invitations"


async def test_unknown_response_ids_are_not_found(client: Client, app: Litestar) -> None:
    await signed_in(client, app, "looker")
    response = await client.get(f"/clinician/responses/{uuid.uuid4()}")
    assert response.status_code == 404
    assert (await client.get("/clinician/responses/not-a-uuid")).status_code == 404


def test_a_concurrent_burst_of_wrong_passwords_is_held_to_the_account_limit(app: Litestar) -> None:
    """Each attempt is counted as it is admitted (count-unless-over in one step), so a burst that
    arrives together cannot all pass the check before any of them is counted.

    The async test client handles one request at a time; the sync one, called from several threads,
    runs their requests concurrently on the app's event loop, as a real server would."""
    asyncio.run(create_account(app, "burst.target"))
    with TestClient(app=app, base_url="http://testserver.local") as browser:
        browser.get("/clinician/sign-in")
        csrf = browser.cookies.get("sdm_csrf")
        assert csrf
        start = threading.Barrier(12)

        def attempt(number: int) -> Any:
            form = {"_csrf_token": csrf, "username": "burst.target", "password": f"wrong-{number}-password"}
            start.wait(timeout=30)
            return browser.post("/clinician/sign-in", data=form, follow_redirects=False)

        with ThreadPoolExecutor(max_workers=12) as pool:
            answers = list(pool.map(attempt, range(12)))
        statuses = sorted(response.status_code for response in answers)
        assert statuses == [401] * 5 + [429] * 7
        assert all(int(r.headers["retry-after"]) >= 1 for r in answers if r.status_code == 429)
        # Even the right password now waits.
        right = browser.post(
            "/clinician/sign-in",
            data={"_csrf_token": csrf, "username": "burst.target", "password": PASSWORD},
            follow_redirects=False,
        )
        assert right.status_code == 429
    assert len(asyncio.run(audit_events(app, "auth.sign_in.failed"))) == 5
    # The 8 refusals are counted per address; the log holds the first (issue 15 item 5).
    assert len(asyncio.run(audit_events(app, "auth.sign_in.throttled"))) == 1


async def test_successful_sign_ins_do_not_use_up_the_address_allowance(client: Client, app: Litestar) -> None:
    """Colleagues behind one address sign in all day: only failures count against the address."""
    await create_account(app, "busy.desk")
    for _ in range(25):
        assert (await sign_in(client, "busy.desk")).status_code == 303
    assert (await sign_in(client, "busy.desk", "not-the-password")).status_code == 401


async def test_a_throttled_address_does_not_count_against_the_account(client: Client, app: Litestar) -> None:
    """An attempt refused for its address was never evaluated, so the account's count stays put."""
    await create_account(app, "bystander")
    for number in range(20):
        assert (await sign_in(client, f"guess{number}", "whatever-password")).status_code == 401
    for _ in range(3):
        assert (await sign_in(client, "bystander", "not-the-password")).status_code == 429
    engine = create_engine(app.state.settings)
    try:
        assert (
            await ratelimit.retry_after(ratelimit.DatabaseStore(engine), signin.ACCOUNT_LIMIT, "bystander")
            is None
        )
        async with engine.connect() as connection:
            hits = (
                await connection.execute(
                    select(func.coalesce(func.sum(RateCounter.hits), 0)).where(
                        col(RateCounter.bucket) == signin.ACCOUNT_LIMIT.bucket
                    )
                )
            ).scalar_one()
    finally:
        await engine.dispose()
    assert hits == 20  # one for each guessed name, none for the refused attempts

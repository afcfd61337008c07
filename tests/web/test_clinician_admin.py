"""Administrator pages: accounts and the audit log. Audit events can be read, never changed."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from litestar import Litestar
from sqlalchemy import select
from sqlmodel import col

import sdm_service
from sdm_service.audit import Actor, record
from sdm_service.models import AuditEvent, Role, User, UserSession, utcnow
from sdm_service.services import users
from tests.web.clinician_support import PASSWORD, Client, audit_events, db, post_form, sign_in, signed_in

NEW_ACCOUNT = {"username": "New.Nurse", "display_name": "Nia Nurse", "role": "clinician"}


async def _create(client: Client, **overrides: str) -> object:
    form = {**NEW_ACCOUNT, "password": PASSWORD, "password_confirm": PASSWORD, **overrides}
    return await post_form(client, "/clinician/admin/users", form)


async def test_an_admin_creates_an_account_that_can_sign_in(client: Client, app: Litestar) -> None:
    admin_id = await signed_in(client, app, "boss", role=Role.ADMIN)
    created = await _create(client)
    assert created.status_code == 303  # type: ignore[attr-defined]
    page = await client.get(created.headers["location"])  # type: ignore[attr-defined]
    assert "Account “new.nurse” was created." in page.text
    assert ">new.nurse</a></th>" in page.text  # linked to the account page

    async with db(app) as session:
        account = await users.find_by_username(session, "new.nurse")
        assert account is not None
        assert account.role == Role.CLINICIAN
        assert account.password_hash.startswith("$argon2id$")
        assert PASSWORD not in account.password_hash
    (event,) = await audit_events(app, "user.create")
    assert (event.actor_id, event.entity_id, event.detail) == (
        str(admin_id),
        str(account.id),
        {"username": "new.nurse", "role": "clinician"},
    )
    assert PASSWORD not in str(event.detail)

    client.cookies.clear()
    assert (await sign_in(client, "new.nurse")).status_code == 303


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"password": "short", "password_confirm": "short"}, "at least 12 characters"),
        ({"password_confirm": "something-else-entirely"}, "do not match"),
        ({"username": "bad name!"}, "The username must be"),
        ({"role": "superuser"}, "The role must be one of"),
        ({"username": "boss"}, "already exists"),
    ],
)
async def test_bad_account_input_is_explained(
    client: Client, app: Litestar, overrides: dict[str, str], message: str
) -> None:
    await signed_in(client, app, "boss", role=Role.ADMIN)
    response = await _create(client, **overrides)
    assert response.status_code == 400  # type: ignore[attr-defined]
    assert message in response.text  # type: ignore[attr-defined]
    async with db(app) as session:
        assert len((await session.execute(select(User))).scalars().all()) == 1
    assert await audit_events(app, "user.create") == []


async def test_deactivating_ends_sessions_and_is_audited(app: Litestar, client: Client) -> None:
    # Two browsers, played by one client swapping cookies (one client keeps the app on one event loop).
    target_id = await signed_in(client, app, "leaver")
    leaver_token = str(client.cookies.get("sdm_session"))
    assert (await client.get("/clinician")).status_code == 200
    client.cookies.delete("sdm_session")
    await signed_in(client, app, "boss", role=Role.ADMIN)
    admin_token = str(client.cookies.get("sdm_session"))

    response = await post_form(client, f"/clinician/admin/users/{target_id}/deactivate")
    assert response.status_code == 303
    assert "is deactivated and signed out" in (await client.get(response.headers["location"])).text

    client.cookies.set("sdm_session", leaver_token, domain="testserver.local", path="/clinician")
    assert (await client.get("/clinician", follow_redirects=False)).status_code == 303
    assert (await sign_in(client, "leaver")).status_code == 401
    async with db(app) as session:
        target = await session.get(User, target_id)
        assert target is not None
        assert not target.is_active
        assert target.deactivated_at is not None
        sessions = (await session.execute(select(UserSession))).scalars().all()
        assert [s.user_id for s in sessions] != []
        assert target_id not in {s.user_id for s in sessions}
    client.cookies.set("sdm_session", admin_token, domain="testserver.local", path="/clinician")
    assert (await client.get("/clinician")).status_code == 200  # the admin's own session is untouched
    (event,) = await audit_events(app, "user.deactivate")
    assert (event.actor_label, event.entity_id) == ("boss", str(target_id))


async def test_an_admin_cannot_deactivate_themselves(client: Client, app: Litestar) -> None:
    admin_id = await signed_in(client, app, "boss", role=Role.ADMIN)
    response = await post_form(client, f"/clinician/admin/users/{admin_id}/deactivate")
    assert response.status_code == 400
    assert "cannot deactivate your own account" in response.text
    assert (await client.get("/clinician")).status_code == 200


async def _seed_events(app: Litestar, count: int) -> None:
    async with db(app) as session:
        base = utcnow() - timedelta(days=count)
        for number in range(count):
            await record(
                session,
                Actor("clinician", f"id-{number % 3}", f"user{number % 3}"),
                "response.view" if number % 2 else "response.pdf",
                entity_type="response",
                entity_id=f"resp-{number % 5}",
                ip="10.0.0.1",
            )
        await session.flush()
        events = (await session.execute(select(AuditEvent).order_by(col(AuditEvent.id)))).scalars().all()
        for number, event in enumerate(events):
            event.occurred_at = base + timedelta(days=number)
        await session.commit()


async def test_audit_log_filters_and_pages(client: Client, app: Litestar) -> None:
    await _seed_events(app, 120)
    await signed_in(client, app, "boss", role=Role.ADMIN)

    everything = await client.get("/clinician/admin/audit")
    assert everything.status_code == 200
    assert "121 entries. Page 1 of 3, newest first." in everything.text  # 120 seeded + the sign-in
    assert "auth.sign_in" in everything.text

    filtered = await client.get(
        "/clinician/admin/audit", params={"action": "response.view", "actor": "user1", "entity_id": "resp-3"}
    )
    # numbers n with n odd, n % 3 == 1, n % 5 == 3: n = 13, 43, 73, 103
    assert "4 entries." in filtered.text
    assert filtered.text.count('<th scope="row">response.view</th>') == 4

    third_page = await client.get("/clinician/admin/audit", params={"page": "3"})
    assert "Page 3 of 3" in third_page.text
    # header row + the 23 oldest entries (the two views above are on the record now too)
    assert third_page.text.count("<tr>") - 1 == 23

    today = utcnow().date()
    ranged = await client.get(
        "/clinician/admin/audit",
        params={
            "from": (today - timedelta(days=10)).isoformat(),
            "to": (today - timedelta(days=6)).isoformat(),
        },
    )
    assert "5 entries." in ranged.text

    bad = await client.get("/clinician/admin/audit", params={"from": "yesterday"})
    assert bad.status_code == 400
    assert "enter a real date" in bad.text


async def test_viewing_the_audit_log_is_itself_audited(client: Client, app: Litestar) -> None:
    await _seed_events(app, 3)
    admin_id = await signed_in(client, app, "watcher", role=Role.ADMIN)

    assert (await client.get("/clinician/admin/audit")).status_code == 200
    filtered = await client.get(
        "/clinician/admin/audit",
        params={"action": "response.view", "actor": "user1", "entity_id": "resp-1", "page": "1"},
    )
    assert filtered.status_code == 200
    assert (await client.get("/clinician/admin/audit", params={"from": "yesterday"})).status_code == 400

    first, second = await audit_events(app, "audit.view")  # the refused filter showed nothing
    for event in (first, second):
        assert (event.actor_type, event.actor_id) == ("clinician", str(admin_id))
        assert event.actor_label == "watcher"
        assert event.entity_type == "audit_event"
        assert event.ip
    assert first.detail == {"filters": {}, "page": 1, "total": 4}  # 3 seeded + the sign-in
    assert second.detail == {
        "filters": {"action": "response.view", "actor": "user1", "entity_id": "resp-1"},
        "page": 1,
        "total": 1,
    }
    # The next view lists the earlier ones.
    assert "audit.view" in (await client.get("/clinician/admin/audit")).text


def test_no_route_can_change_or_delete_audit_events(app: Litestar) -> None:
    """Only reads reach the audit log: audit pages are GET only, and no code updates or deletes events."""
    audit_routes = [route for route in app.routes if "audit" in route.path]
    assert audit_routes
    for route in audit_routes:
        assert set(getattr(route, "methods", set())) <= {"GET", "HEAD", "OPTIONS"}, route.path
    writes = re.compile(r"\b(update|delete)\(\s*AuditEvent\b")
    for path in Path(sdm_service.__file__).parent.rglob("*.py"):
        assert not writes.search(path.read_text(encoding="utf-8")), path

"""Fixes from the security review: revoked links, event-loop blocking, control characters,
out-of-range dates, private exports and link tokens in logs."""

from __future__ import annotations

import base64
import json
import logging
import os
import stat
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar, Request
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, select
from sqlmodel import SQLModel, col

from sdm_service.db import create_engine
from sdm_service.exchange import export_database, import_database
from sdm_service.logging_filters import LinkTokenFilter, mask_path, uvicorn_log_config
from sdm_service.models import AuditEvent, Response, Role
from sdm_service.services import audit_query, invitations, users
from sdm_service.services.search import SearchError, as_utc, decode_cursor, parse_identifier
from sdm_service.settings import Settings
from sdm_service.web import errors
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
API_SCOPES = "invitations:write,responses:read,responses:write"


async def api_token(app: Litestar) -> dict[str, str]:
    from sdm_service.services import api_clients

    async with db(app) as session:
        created = await api_clients.create_api_client(session, "EHR review tests", API_SCOPES)
        await session.commit()
    return {"Authorization": f"Bearer {created.token}"}


async def stored(app: Litestar, response_id: uuid.UUID) -> Response:
    async with db(app) as session:
        row = await session.get(Response, response_id)
        assert row is not None
        return row


# --- 1. Revoking an invitation ends every way into the response ------------------------------------


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


# --- 2. argon2 runs off the event loop --------------------------------------------------------------


@pytest.fixture
def hashing_threads(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Records which thread each password hash or verification ran on."""
    seen: list[tuple[str, int]] = []
    real_hash, real_verify = users.hash_password, users.verify_password

    def hash_password(password: str) -> str:
        seen.append(("hash", threading.get_ident()))
        return real_hash(password)

    def verify_password(password: str, stored_hash: str | None) -> bool:
        seen.append(("verify", threading.get_ident()))
        return real_verify(password, stored_hash)

    monkeypatch.setattr(users, "hash_password", hash_password)
    monkeypatch.setattr(users, "verify_password", verify_password)
    return seen


async def test_password_hashing_and_checking_run_in_a_worker_thread(
    app: Litestar, hashing_threads: list[tuple[str, int]]
) -> None:
    loop_thread = threading.get_ident()
    async with db(app) as session:
        user = await users.create_user(session, username="dr.thread", password=PASSWORD, role=Role.CLINICIAN)
        await session.commit()
        assert await users.authenticate(session, "dr.thread", PASSWORD) == user
        assert await users.authenticate(session, "dr.thread", "wrong-password-123") is None
        assert await users.authenticate(session, "nobody.here", PASSWORD) is None
    kinds = [kind for kind, _ in hashing_threads]
    assert kinds == ["hash", "verify", "verify", "verify"]
    assert all(thread != loop_thread for _, thread in hashing_threads)


# --- 3. Control characters are refused, not sent to the database -----------------------------------


@pytest.mark.parametrize("username", ["dr\x00who", "dr.who\n", "\x1bdr"])
async def test_usernames_with_control_characters_are_simply_unknown(app: Litestar, username: str) -> None:
    async with db(app) as session:
        await users.create_user(session, username="dr.who", password=PASSWORD, role=Role.CLINICIAN)
        await session.commit()
        assert await users.authenticate(session, username, PASSWORD) is None


async def test_sign_in_with_a_nul_in_the_username_is_a_normal_refusal(client: Client, app: Litestar) -> None:
    from tests.web.clinician_support import sign_in

    response = await sign_in(client, "dr\x00who")
    assert response.status_code == 401, response.text
    assert "sdm_session" not in response.cookies
    async with db(app) as session:
        failed = (
            (await session.execute(select(AuditEvent).where(col(AuditEvent.action) == "auth.sign_in.failed")))
            .scalars()
            .all()
        )
    assert [event.actor_label for event in failed] == ["dr\ufffdwho"]


@pytest.mark.parametrize("text", ["a\x00b", "sys\x00|value", "system|va\x01ue", "a\x1fb"])
def test_identifiers_with_control_characters_are_a_search_error(text: str) -> None:
    with pytest.raises(SearchError, match="control characters"):
        parse_identifier(text)


@pytest.mark.parametrize("patient", ["a\x00b", "urn:x\x00|MRN-1", "urn:x|MRN\x00"])
async def test_api_and_fhir_searches_with_nul_are_400(client: Client, app: Litestar, patient: str) -> None:
    headers = await api_token(app)
    listed = await client.get("/api/v1/responses", params={"patient": patient}, headers=headers)
    assert listed.status_code == 400, listed.text
    assert "control characters" in listed.text
    for resource in ("QuestionnaireResponse", "DocumentReference"):
        searched = await client.get(
            f"/fhir/{resource}", params={"subject:identifier": patient}, headers=headers
        )
        assert searched.status_code == 400, searched.text
        assert searched.json()["resourceType"] == "OperationOutcome"


async def test_fhir_intake_refuses_a_display_name_with_control_characters(
    client: Client, app: Litestar, settings: Settings
) -> None:
    from tests.api.test_fhir_intake import FHIR_JSON, post, questionnaire_response

    headers = await api_token(app)
    answers: dict[str, Any] = {}
    body = questionnaire_response(app, settings, answers, status="in-progress")
    body["subject"]["display"] = "Lee\x00Wong"
    refused = await post(client, headers, body)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith(FHIR_JSON)
    assert "subject.display" in refused.text
    async with db(app) as session:
        assert (await session.execute(select(Response))).scalars().all() == []


# --- 4. Dates at the edge of the calendar are a 400, not an OverflowError --------------------------


def _cursor(stamp: str) -> str:
    raw = json.dumps([stamp, str(uuid.uuid4())]).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
def test_cursors_beyond_the_calendar_are_refused(stamp: str) -> None:
    with pytest.raises(SearchError, match="cursor"):
        decode_cursor(_cursor(stamp))


def test_times_whose_utc_leaves_the_calendar_are_a_search_error() -> None:
    late = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(hours=-5)))
    with pytest.raises(SearchError, match="out of range"):
        as_utc(late)
    assert as_utc(datetime(9999, 12, 31, 12, 0)) == datetime(9999, 12, 31, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize("stamp", ["9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00"])
async def test_api_and_fhir_out_of_range_cursors_are_400(client: Client, app: Litestar, stamp: str) -> None:
    headers = await api_token(app)
    listed = await client.get("/api/v1/responses", params={"cursor": _cursor(stamp)}, headers=headers)
    assert listed.status_code == 400, listed.text
    searched = await client.get(
        "/fhir/QuestionnaireResponse", params={"_cursor": _cursor(stamp)}, headers=headers
    )
    assert searched.status_code == 400, searched.text


def test_an_audit_to_date_of_9999_12_31_is_a_filter_error() -> None:
    with pytest.raises(audit_query.AuditFilterError, match="'to' date"):
        audit_query.AuditFilters(date_to=date.max)
    assert audit_query.AuditFilters(date_to=date.max - timedelta(days=1)).date_to == date(9999, 12, 30)


async def test_the_audit_page_explains_a_to_date_of_9999_12_31(client: Client, app: Litestar) -> None:
    from tests.web.clinician_support import signed_in

    await signed_in(client, app, "admin.audit", role=Role.ADMIN)
    response = await client.get("/clinician/admin/audit", params={"to": "9999-12-31"})
    assert response.status_code == 400, response.text
    assert "9999-12-30 or earlier" in response.text
    fine = await client.get("/clinician/admin/audit", params={"from": "9999-12-31", "to": "9999-12-30"})
    assert fine.status_code == 400  # from after to: the ordinary message, not a crash
    assert (await client.get("/clinician/admin/audit", params={"to": "9999-12-30"})).status_code == 200


# --- 5. Exports are private and on the record -------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    """A umask that would make new files world-readable, as on many servers."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def _audit_events(settings: Settings, action: str) -> list[AuditEvent]:
    engine = create_engine(settings)
    try:
        async with engine.connect() as connection:
            rows = await connection.execute(select(AuditEvent).where(col(AuditEvent.action) == action))
            return [AuditEvent.model_validate(dict(row)) for row in rows.mappings()]
    finally:
        await engine.dispose()


async def test_export_is_readable_only_by_its_owner_and_export_and_import_are_audited(
    app: Litestar, settings: Settings, tmp_path: Path, open_umask: None
) -> None:
    async with db(app) as session:
        await invitations.create_invitation(session, settings, content_of(app), patient_value="MRN-5")
        await session.commit()
    out_dir = tmp_path / "backup" / "export-1"
    engine = create_engine(settings)
    try:
        result = await export_database(engine, out_dir, base_url=settings.base_url, library=app.state.library)
    finally:
        await engine.dispose()

    assert result.tables["responses"] == 1
    for directory in (out_dir, out_dir / "tables", out_dir / "fhir"):
        assert _mode(directory) == 0o700, directory
    files = [path for path in out_dir.rglob("*") if path.is_file()]
    assert out_dir / "manifest.json" in files
    assert len(files) > 3
    for path in files:
        assert _mode(path) == 0o600, path

    (exported,) = await _audit_events(settings, "data.export")
    assert exported.actor_type == "system"
    assert exported.detail["tables"]["responses"] == 1
    assert exported.detail["fhir_resources"] == 1

    # Restore into the same database emptied, as onto a new server.
    engine = create_engine(settings)
    try:
        async with engine.begin() as connection:
            for table in reversed(SQLModel.metadata.sorted_tables):
                await connection.execute(delete(table))
        restored = await import_database(engine, out_dir)
    finally:
        await engine.dispose()
    assert restored.tables["responses"] == 1
    (imported,) = await _audit_events(settings, "data.import")
    assert imported.actor_type == "system"
    assert imported.detail["tables"]["responses"] == 1


async def test_an_export_into_an_existing_empty_directory_makes_it_private(
    app: Litestar, settings: Settings, tmp_path: Path, open_umask: None
) -> None:
    out_dir = tmp_path / "made-by-hand"
    out_dir.mkdir(mode=0o755)
    engine = create_engine(settings)
    try:
        await export_database(engine, out_dir, base_url=settings.base_url)
    finally:
        await engine.dispose()
    assert _mode(out_dir) == 0o700


# --- 6. Link tokens and query strings stay out of the logs ------------------------------------------

TOKEN = "Zq3-secret_token_Abc123xyz"


def _record(msg: str, args: Any) -> logging.LogRecord:
    return logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, msg, args, None)


def test_the_access_log_line_keeps_its_shape_without_the_token() -> None:
    from uvicorn.logging import AccessFormatter

    record = _record(
        '%s - "%s %s HTTP/%s" %d',
        ("10.0.0.7:5123", "GET", f"/r/{TOKEN}?utm=mail&patient=MRN-1", "1.1", 303),
    )
    assert LinkTokenFilter().filter(record) is True
    line = AccessFormatter(
        fmt='%(client_addr)s - "%(request_line)s" %(status_code)s', use_colors=False
    ).format(record)
    assert TOKEN not in line
    assert "MRN-1" not in line
    assert line.startswith('10.0.0.7:5123 - "GET /r/[link] HTTP/1.1" 303')


@pytest.mark.parametrize(
    ("message", "masked"),
    [
        (f"GET /i/{TOKEN}", "GET /i/[link]"),
        (f"http://clinic.example/i/{TOKEN}/extra", "http://clinic.example/i/[link]/extra"),
        ("GET /api/v1/responses?patient=MRN-1&limit=5 done", "GET /api/v1/responses done"),
        ("/fhir/QuestionnaireResponse?subject:identifier=urn|MRN-2", "/fhir/QuestionnaireResponse"),
        ("/q/iort-sdm/step/2", "/q/iort-sdm/step/2"),
        ("/fhir/Questionnaire/iort-sdm", "/fhir/Questionnaire/iort-sdm"),
        ("Ready? Serving now", "Ready? Serving now"),
    ],
)
def test_mask_path(message: str, masked: str) -> None:
    assert mask_path(message) == masked


def test_the_filter_masks_the_message_and_dict_args_and_leaves_numbers() -> None:
    record = _record(f"opened /i/{TOKEN} for %(who)s, %(count)d rows", {"who": f"/r/{TOKEN}", "count": 3})
    LinkTokenFilter().filter(record)
    assert record.getMessage() == "opened /i/[link] for /r/[link], 3 rows"


def test_the_uvicorn_config_puts_the_filter_on_every_handler() -> None:
    config = uvicorn_log_config()
    assert set(config["handlers"]) >= {"access", "default"}
    for handler in config["handlers"].values():
        assert "mask_links" in handler["filters"]
    assert config["filters"]["mask_links"]["()"] is LinkTokenFilter


def test_error_logs_show_a_masked_path(caplog: pytest.LogCaptureFixture) -> None:
    scope: Any = {
        "type": "http",
        "method": "GET",
        "path": f"/r/{TOKEN}",
        "raw_path": f"/r/{TOKEN}".encode(),
        "query_string": b"x=1",
        "headers": [],
        "server": ("testserver.local", 80),
        "scheme": "http",
        "root_path": "",
        "app": None,
    }
    request: Request[Any, Any, Any] = Request(scope)
    with caplog.at_level(logging.ERROR, logger="sdm_service.errors"):
        errors._unexpected(request, RuntimeError("boom"))
        errors._database_unavailable(request, ConnectionError("down"))
    assert len(caplog.records) == 2
    assert all(TOKEN not in record.getMessage() for record in caplog.records)
    assert all("/r/[link]" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/fhir/QuestionnaireResponse", {"_lastUpdated": "9999-12-31"}),
        ("/fhir/QuestionnaireResponse", {"_lastUpdated": "ge9999-12-31T23:59:59-01:00"}),
        ("/api/v1/responses", {"updated_since": "0001-01-01T00:00:00+14:00"}),
    ],
)
async def test_search_dates_beyond_the_calendar_are_400(
    client: Client, app: Litestar, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params, headers=await api_token(app))
    assert response.status_code == 400, response.text

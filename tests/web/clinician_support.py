"""Helpers for the clinician workspace tests: accounts, signed-in clients, seeded responses."""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta
from typing import Any

from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlmodel import col

from sdm_service.content.logic import enabled_answers, is_enabled, missing_required
from sdm_service.decision import build_summary
from sdm_service.decision.snapshot import PatientInfo
from sdm_service.models import AuditEvent, PatientResponse, ResponseStatus, Role, utcnow
from sdm_service.services import users
from tests.database import db as db  # re-exported for the test modules

PASSWORD = "a-long-enough-password-42"
Client = AsyncTestClient[Litestar]


async def create_account(
    app: Litestar, username: str, *, role: str = Role.CLINICIAN, password: str = PASSWORD
) -> uuid.UUID:
    async with db(app) as session:
        user = await users.create_user(
            session,
            username=username,
            password=password,
            role=role,
            hashing=users.hashing_for(app.state.settings),
        )
        await session.commit()
        return user.id


async def csrf_token(client: Client) -> str:
    """The CSRF cookie value, fetching a page first if the client has none yet."""
    token = client.cookies.get("sdm_csrf")
    if not token:
        await client.get("/clinician/sign-in")
        token = client.cookies.get("sdm_csrf")
    assert token, "the sign-in page should set the CSRF cookie"
    return str(token)


async def post_form(client: Client, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    form = {"_csrf_token": await csrf_token(client), **(data or {})}
    return await client.post(path, data=form, follow_redirects=False, **kwargs)


async def sign_in(client: Client, username: str, password: str = PASSWORD, next_path: str = "") -> Any:
    data = {"username": username, "password": password}
    if next_path:
        data["next"] = next_path
    return await post_form(client, "/clinician/sign-in", data)


async def signed_in(client: Client, app: Litestar, username: str, *, role: str = Role.CLINICIAN) -> uuid.UUID:
    user_id = await create_account(app, username, role=role)
    response = await sign_in(client, username)
    assert response.status_code == 303, response.text
    return user_id


def complete_answers(app: Litestar, **overrides: Any) -> dict[str, Any]:
    """A full answer set a patient could submit: the first option of every required item that applies,
    with overrides (e.g. prio_fewer_visits="extremely") applied first so follow-ups appear."""
    questionnaire = app.state.library.get("iort-sdm").questionnaire
    answers: dict[str, Any] = dict(overrides)
    for item in questionnaire.items():
        if item.id in answers or not item.answerable or not item.required or not is_enabled(item, answers):
            continue
        codes = item.option_codes()
        if item.type == "multiple_choice":
            answers[item.id] = [codes[0]]
        elif item.type == "date":
            answers[item.id] = date.today().isoformat()
        elif item.type == "text":
            answers[item.id] = "A question of my own"
        else:
            answers[item.id] = codes[0]
    kept = enabled_answers(questionnaire, answers)
    assert not missing_required(questionnaire, kept)
    return kept


FLAGGING_ANSWERS = {
    "prio_fewer_visits": "extremely",
    "visit_limits": ["work", "transport"],
    "most_important": "fewer_visits",
    "sure_values": "no",
    "own_questions": "Can my partner stay with me on the day of surgery?",
}


async def add_response(
    app: Litestar,
    *,
    status: str = ResponseStatus.COMPLETED,
    patient_name: str = "Maria Núñez-Schäfer",
    patient_value: str = "MRN-1001",
    consult_date: date | None = None,
    created_at: datetime | None = None,
    answers: dict[str, Any] | None = None,
) -> uuid.UUID:
    """A response row as the patient flow leaves it. Completed ones get their summary from the real
    decision engine (build_summary), computed from `answers` (default: a flagged, complete set)."""
    response_id = uuid.uuid4()
    now = created_at or utcnow()
    content = app.state.library.get("iort-sdm")
    completed = status in (ResponseStatus.COMPLETED, ResponseStatus.REVIEWED)
    stored_answers = answers if answers is not None else complete_answers(app, **FLAGGING_ANSWERS)
    snapshot = (
        build_summary(
            content,
            stored_answers,
            response_id=str(response_id),
            completed_at=now + timedelta(minutes=20),
            patient=PatientInfo(name=patient_name or None, identifier_value=patient_value or None),
            consult_date=consult_date,
            clinic_name="Test Cancer Center",
        )
        if completed
        else None
    )
    async with db(app) as session:
        session.add(
            PatientResponse(
                id=response_id,
                questionnaire_slug="iort-sdm",
                questionnaire_version=content.version,
                status=status,
                patient_name=patient_name,
                patient_value=patient_value,
                consult_date=consult_date,
                answers=stored_answers,
                summary=snapshot.model_dump(mode="json") if snapshot else None,
                conflict_score=snapshot.conflict.score if snapshot else None,
                conflict_flag=snapshot.conflict.flagged if snapshot else False,
                top_priority=snapshot.most_important if snapshot else None,
                created_at=now,
                updated_at=now,
                completed_at=now + timedelta(minutes=20) if completed else None,
            )
        )
        await session.commit()
    return response_id


async def audit_events(app: Litestar, action: str | None = None) -> list[AuditEvent]:
    async with db(app) as session:
        query = select(AuditEvent).order_by(col(AuditEvent.id))
        if action:
            query = query.where(col(AuditEvent.action) == action)
        return list((await session.execute(query)).scalars().all())


def response_links(html: str) -> list[str]:
    """Response ids linked from a worklist page, in display order."""
    return re.findall(r'<th scope="row">\s*<a href="/clinician/responses/([0-9a-f-]{36})"', html)

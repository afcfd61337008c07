"""Fixtures for the EHR integration tests: API tokens, answer sets and completed responses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import pytest
from litestar import Litestar
from sqlalchemy import func, select

from sdm_service.content import Content
from sdm_service.content.logic import is_enabled
from sdm_service.models import PatientResponse
from sdm_service.services import api_clients, documents
from sdm_service.services.invitations import create_invitation
from sdm_service.services.responses import complete_response
from sdm_service.settings import Settings
from tests.database import db as db  # re-exported for the test modules

ALL_SCOPES = ",".join(api_clients.SCOPES)  # every scope a client can be given
MRN_SYSTEM = "urn:oid:1.2.3.4.5"

MakeToken = Callable[..., Awaitable[str]]


def content_of(app: Litestar) -> Content:
    return app.state.library.get("iort-sdm")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def make_token(app: Litestar) -> MakeToken:
    async def make(scopes: str = ALL_SCOPES, name: str | None = None) -> str:
        async with db(app) as session:
            created = await api_clients.create_api_client(
                session, name or (f"EHR {scopes}" if len(scopes) < 100 else "EHR with every scope"), scopes
            )
            await session.commit()
        assert created.token is not None  # a static-token client
        return created.token

    return make


@pytest.fixture
async def token(make_token: MakeToken) -> str:
    return await make_token()


@pytest.fixture
def headers(token: str) -> dict[str, str]:
    return bearer(token)


def full_answers(content: Content, *, today: date | None = None) -> dict[str, Any]:
    """A complete, valid answer set: every enabled answerable item gets a plausible answer."""
    questionnaire = content.questionnaire
    answers: dict[str, Any] = {}
    for item in questionnaire.items():
        if not item.answerable or not is_enabled(item, answers):
            continue
        if item.type == "importance":
            answers[item.id] = "extremely" if item.priority == "fewer_visits" else "very"
        elif item.type == "yes_no":
            answers[item.id] = "yes"
        elif item.type == "single_choice":
            answers[item.id] = item.option_codes()[0]
        elif item.type == "multiple_choice":
            answers[item.id] = list(item.option_codes()[:2])
        elif item.type == "date":
            answers[item.id] = (today or date.today()).isoformat()
        else:
            answers[item.id] = "Will I need more treatment later?"
    if "most_important" in answers:
        answers["most_important"] = _option(content, "most_important", "fewer_visits")
    return answers


def _option(content: Content, link_id: str, wanted: str) -> str:
    codes = content.questionnaire.item(link_id).option_codes()
    return wanted if wanted in codes else codes[0]


async def completed_response(
    app: Litestar,
    settings: Settings,
    *,
    value: str = "MRN-1",
    system: str = MRN_SYSTEM,
    name: str = "Ana Diaz",
) -> PatientResponse:
    """An invited response the patient then completed (as the web flow does)."""
    content = content_of(app)
    async with db(app) as session:
        created = await create_invitation(
            session, settings, content, patient_value=value, patient_system=system, patient_name=name
        )
        response = created.response
        response.answers = full_answers(content)
        await complete_response(session, response, content, settings)
        await session.commit()
        await documents.after_completion(session, response)()  # as the completing request does
        return response


async def invited_response(
    app: Litestar, settings: Settings, *, value: str = "MRN-2", system: str = MRN_SYSTEM
) -> PatientResponse:
    async with db(app) as session:
        created = await create_invitation(
            session, settings, content_of(app), patient_value=value, patient_system=system
        )
        await session.commit()
        return created.response


async def count_rows(app: Litestar, model: type[Any] = PatientResponse) -> int:
    async with db(app) as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


def validate_fhir(resource: dict[str, Any]) -> Any:
    """Validate with the fhir.resources R4B model for its resourceType (and every Bundle entry)."""
    from fhir.resources.R4B import get_fhir_model_class

    model = get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    for entry in resource.get("entry", []):
        validate_fhir(entry["resource"])
    return model

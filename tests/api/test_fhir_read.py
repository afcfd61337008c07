"""FHIR R4 reads and searches: metadata, Questionnaire, QuestionnaireResponse, DocumentReference,
Binary. Every resource is checked against the fhir.resources R4B models."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import select
from sqlmodel import col

from sdm_service.models import AuditEvent, PatientResponse, QuestionnaireVersion
from sdm_service.settings import Settings
from tests.api.conftest import MRN_SYSTEM, completed_response, content_of, db, invited_response, validate_fhir

Client = AsyncTestClient[Litestar]
FHIR_JSON = "application/fhir+json"


async def test_metadata_lists_what_is_supported(client: Client) -> None:
    response = await client.get("/fhir/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(FHIR_JSON)
    statement = response.json()
    validate_fhir(statement)
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    assert set(resources) == {
        "Questionnaire",
        "QuestionnaireResponse",
        "DocumentReference",
        "Binary",
        "Task",
        "AuditEvent",
    }
    assert {i["code"] for i in resources["QuestionnaireResponse"]["interaction"]} == {
        "read",
        "search-type",
        "create",
    }
    assert {p["name"] for p in resources["QuestionnaireResponse"]["searchParam"]} >= {
        "subject",
        "status",
        "_lastUpdated",
    }
    assert (await client.get("/fhir/metadata", params={"_format": "json"})).status_code == 200


async def test_questionnaire_read_and_search(client: Client, settings: Settings) -> None:
    read = await client.get("/fhir/Questionnaire/iort-sdm", headers={"Accept": "application/json"})
    assert read.status_code == 200
    questionnaire = read.json()
    validate_fhir(questionnaire)
    assert questionnaire["id"] == "iort-sdm"
    url, version = questionnaire["url"], questionnaire["version"]
    assert url == f"{settings.base_url}/fhir/Questionnaire/iort-sdm"

    for params, expected in (
        ({"url": url}, 1),
        ({"url": url, "version": version}, 1),
        ({"url": f"{url}|{version}"}, 1),
        ({"version": "0.0.1"}, 0),
        ({"url": "http://elsewhere.example/Questionnaire/x"}, 0),
    ):
        bundle = (await client.get("/fhir/Questionnaire", params=params)).json()
        validate_fhir(bundle)
        assert (bundle["type"], bundle["total"]) == ("searchset", expected), params

    missing = await client.get("/fhir/Questionnaire/other")
    assert missing.status_code == 404
    assert "iort-sdm" in missing.json()["issue"][0]["diagnostics"]


async def test_questionnaire_response_read_maps_status_subject_and_answers(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    done = await completed_response(app, settings)
    invited = await invited_response(app, settings)
    read = await client.get(f"/fhir/QuestionnaireResponse/{done.id}", headers=headers)
    assert read.status_code == 200
    assert read.headers["content-type"].startswith(FHIR_JSON)
    assert read.headers["cache-control"] == "no-store"
    resource = read.json()
    validate_fhir(resource)
    assert resource["status"] == "completed"
    assert resource["questionnaire"] == f"{settings.base_url}/fhir/Questionnaire/iort-sdm|2.0.0"
    assert resource["subject"]["identifier"] == {"system": MRN_SYSTEM, "value": "MRN-1"}
    groups = {group["linkId"]: group for group in resource["item"]}
    about = {item["linkId"]: item for item in groups["step-about"]["item"]}
    coding = about["cancer_type"]["answer"][0]["valueCoding"]
    assert coding["code"] == done.answers["cancer_type"]
    assert coding["system"].startswith(f"{settings.base_url}/fhir/CodeSystem/")

    pending = (await client.get(f"/fhir/QuestionnaireResponse/{invited.id}", headers=headers)).json()
    validate_fhir(pending)
    assert pending["status"] == "in-progress"
    assert "item" not in pending

    async with db(app) as session:
        events = (await session.execute(select(AuditEvent))).scalars().all()
    assert {(e.action, e.actor_type, e.entity_id) for e in events} == {
        ("api.response.read", "api_client", str(done.id)),
        ("api.response.read", "api_client", str(invited.id)),
    }


async def test_search_by_subject_status_and_last_updated(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    done = await completed_response(app, settings, value="MRN-1")
    open_one = await invited_response(app, settings, value="MRN-1")
    await invited_response(app, settings, value="MRN-3")

    async def ids(**params: str | list[str]) -> set[str]:
        response = await client.get("/fhir/QuestionnaireResponse", params=params, headers=headers)
        assert response.status_code == 200, response.text
        bundle = response.json()
        validate_fhir(bundle)
        assert bundle["type"] == "searchset"
        found = {entry["resource"]["id"] for entry in bundle.get("entry", [])}
        assert bundle["total"] == len(found)
        return found

    subject = f"{MRN_SYSTEM}|MRN-1"
    assert await ids(**{"subject:identifier": subject}) == {str(done.id), str(open_one.id)}
    assert await ids(**{"subject:identifier": "MRN-1", "status": "completed"}) == {str(done.id)}
    assert await ids(**{"subject:identifier": subject, "status": "in-progress"}) == {str(open_one.id)}
    assert await ids(status="in-progress,completed") == await ids()
    assert await ids(status="amended") == set()
    day = done.updated_at.date()
    assert len(await ids(_lastUpdated=f"ge{day.isoformat()}")) == 3
    assert await ids(_lastUpdated=f"gt{day.isoformat()}") == set()
    assert await ids(_lastUpdated=f"lt{day.isoformat()}") == set()
    assert len(await ids(_lastUpdated=day.isoformat())) == 3
    before = (done.updated_at - timedelta(seconds=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(await ids(_lastUpdated=f"ge{before}")) == 3
    shifted = (done.updated_at + timedelta(hours=2, seconds=-5)).strftime("%Y-%m-%dT%H:%M:%S+02:00")
    assert len(await ids(_lastUpdated=f"ge{shifted}")) == 3
    assert await ids(_lastUpdated=f"lt{shifted}") == set()
    # A client that forgets to encode "+" still gets what it meant.
    raw = await client.get(f"/fhir/QuestionnaireResponse?_lastUpdated=ge{shifted}", headers=headers)
    assert raw.json()["total"] == 3
    assert len(await ids(_lastUpdated=[f"ge{before}", f"le{day.isoformat()}"])) == 3
    assert await ids(_id=str(done.id)) == {str(done.id)}


async def test_search_pages_follow_next_links(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    for index in range(5):
        await invited_response(app, settings, value=f"P-{index}")
    seen: list[str] = []
    url: str | None = "/fhir/QuestionnaireResponse?_count=2"
    while url:
        bundle = (await client.get(url, headers=headers)).json()
        validate_fhir(bundle)
        assert bundle["total"] == 5
        seen.extend(entry["resource"]["id"] for entry in bundle.get("entry", []))
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        url = links.get("next")
        if url:
            assert url.startswith(settings.base_url)
            assert parse_qs(urlsplit(url).query)["_count"] == ["2"]
    assert len(seen) == 5 == len(set(seen))
    only_total = (await client.get("/fhir/QuestionnaireResponse?_count=0", headers=headers)).json()
    assert only_total["total"] == 5
    assert "entry" not in only_total


async def test_a_search_for_the_total_only_is_audited(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    for index in range(3):
        await invited_response(app, settings, value="MRN-7" if index else "MRN-8")
    subject = f"{MRN_SYSTEM}|MRN-7"
    only_total = await client.get(
        "/fhir/QuestionnaireResponse",
        params={"subject:identifier": subject, "status": "in-progress", "_count": "0"},
        headers=headers,
    )
    assert only_total.status_code == 200
    assert only_total.json()["total"] == 2
    assert "entry" not in only_total.json()
    documents = await client.get("/fhir/DocumentReference", params={"_count": "0"}, headers=headers)
    assert documents.json()["total"] == 0

    async with db(app) as session:
        events = (await session.execute(select(AuditEvent).order_by(col(AuditEvent.id)))).scalars().all()
    assert [(e.action, e.actor_type, e.entity_type, e.entity_id) for e in events] == [
        ("api.response.search", "api_client", "response", ""),
        ("api.response.search", "api_client", "response", ""),
    ]
    responses, references = events
    assert responses.actor_label.startswith("EHR")
    assert responses.ip
    assert responses.detail == {
        "path": "/fhir/QuestionnaireResponse",
        "via": "fhir-search",
        "search": {"subject:identifier": subject, "status": "in-progress", "_count": 0},
        "total": 2,
    }
    assert references.detail["path"] == "/fhir/DocumentReference"
    assert (references.detail["search"], references.detail["total"]) == ({"_count": 0}, 0)


async def test_a_search_that_finds_nothing_is_audited_and_one_that_finds_rows_audits_the_reads(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    found = await invited_response(app, settings, value="MRN-9")
    nothing = await client.get(
        "/fhir/QuestionnaireResponse", params={"subject:identifier": "MRN-404"}, headers=headers
    )
    assert nothing.json()["total"] == 0
    something = await client.get(
        "/fhir/QuestionnaireResponse", params={"subject:identifier": "MRN-9"}, headers=headers
    )
    assert something.json()["total"] == 1

    async with db(app) as session:
        events = (await session.execute(select(AuditEvent).order_by(col(AuditEvent.id)))).scalars().all()
    assert [(e.action, e.entity_id) for e in events] == [
        ("api.response.search", ""),
        ("api.response.read", str(found.id)),
    ]
    assert events[0].detail["search"] == {"subject:identifier": "MRN-404", "_count": 20}
    assert events[0].detail["total"] == 0


@pytest.mark.parametrize(
    ("query", "status", "needle"),
    [
        ("patient=MRN-1", 400, "patient"),
        ("subject=Patient/1", 400, "subject:identifier"),
        ("subject:identifier=a|b|c", 400, "identifier"),
        ("status=done", 400, "status"),
        ("_lastUpdated=yesterday", 400, "_lastUpdated"),
        ("_lastUpdated=2026-13-45", 400, "_lastUpdated"),
        ("_lastUpdated=sa2026-01-01", 400, "sa"),
        ("_count=abc", 400, "_count"),
        ("_count=500", 400, "_count"),
        ("_cursor=garbage", 400, "cursor"),
        ("status=completed&status=in-progress", 400, "once"),
        ("_format=xml", 406, "JSON"),
    ],
)
async def test_bad_searches_are_operation_outcomes(
    client: Client, headers: dict[str, str], query: str, status: int, needle: str
) -> None:
    response = await client.get(f"/fhir/QuestionnaireResponse?{query}", headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    outcome = response.json()
    validate_fhir(outcome)
    assert needle in outcome["issue"][0]["diagnostics"] + str(outcome["issue"][0].get("expression"))


async def test_document_reference_points_at_the_pdf_binary(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    done = await completed_response(app, settings, value="MRN-1")
    await invited_response(app, settings, value="MRN-1")
    search = await client.get(
        "/fhir/DocumentReference", params={"subject:identifier": f"{MRN_SYSTEM}|MRN-1"}, headers=headers
    )
    bundle = search.json()
    validate_fhir(bundle)
    assert bundle["total"] == 1  # only the completed response has a document
    document = bundle["entry"][0]["resource"]
    assert document["id"] == str(done.id)
    assert document["subject"]["identifier"]["value"] == "MRN-1"
    attachment = document["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf"
    assert attachment["url"] == f"{settings.base_url}/fhir/Binary/{done.id}"

    read = (await client.get(f"/fhir/DocumentReference/{done.id}", headers=headers)).json()
    validate_fhir(read)
    assert read == document

    binary_path = urlsplit(attachment["url"]).path
    as_fhir = await client.get(binary_path, headers=headers)
    assert as_fhir.headers["content-type"].startswith(FHIR_JSON)
    resource = as_fhir.json()
    validate_fhir(resource)
    pdf = base64.b64decode(resource["data"])
    assert pdf.startswith(b"%PDF")
    raw = await client.get(binary_path, headers={**headers, "Accept": "application/pdf"})
    assert raw.headers["content-type"] == "application/pdf"
    assert raw.content == pdf


async def test_missing_resources_and_methods_are_operation_outcomes(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    invited = await invited_response(app, settings)
    cases = [
        ("GET", f"/fhir/QuestionnaireResponse/{uuid.uuid4()}", 404, "not-found"),
        ("GET", "/fhir/QuestionnaireResponse/not-a-uuid", 404, "not-found"),
        ("GET", f"/fhir/DocumentReference/{invited.id}", 404, "not-found"),
        ("GET", f"/fhir/Binary/{invited.id}", 404, "not-found"),
        ("GET", "/fhir/Patient/123", 404, "not-found"),
        ("GET", "/fhir", 404, "not-found"),
        ("DELETE", f"/fhir/QuestionnaireResponse/{invited.id}", 405, "not-supported"),
        ("PUT", "/fhir/Questionnaire/iort-sdm", 405, "not-supported"),
        ("GET", f"/fhir/QuestionnaireResponse/{invited.id}?_elements=id", 400, "invalid"),
    ]
    for method, path, status, code in cases:
        response = await client.request(method, path, headers=headers)
        assert response.status_code == status, (method, path, response.text)
        assert response.headers["content-type"].startswith(FHIR_JSON), path
        outcome = response.json()
        validate_fhir(outcome)
        assert outcome["issue"][0]["code"] == code
        assert outcome["issue"][0]["diagnostics"]


async def test_responses_keep_the_questionnaire_version_they_were_answered_on(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    content = content_of(app)
    old_definition = content.definition()
    old_definition["questionnaire"]["version"] = "0.9.0"
    old_definition["questionnaire"]["steps"][0]["title"] = "About you (old wording)"
    async with db(app) as session:
        session.add(
            QuestionnaireVersion(
                slug="iort-sdm", version="0.9.0", content_hash="x", definition=old_definition
            )
        )
        stored = PatientResponse(
            questionnaire_slug="iort-sdm",
            questionnaire_version="0.9.0",
            status="completed",
            patient_value="MRN-OLD",
            answers={"respondent": "patient"},
        )
        pending = PatientResponse(
            questionnaire_slug="iort-sdm",
            questionnaire_version="0.8.0",
            status="in_progress",
            patient_value="MRN-OLDER",
            answers={"respondent": "helper"},
        )
        session.add_all([stored, pending])
        await session.commit()

    old = (await client.get(f"/fhir/QuestionnaireResponse/{stored.id}", headers=headers)).json()
    validate_fhir(old)
    assert old["questionnaire"].endswith("|0.9.0")
    assert old["item"][0]["text"] == "About you (old wording)"
    older = (await client.get(f"/fhir/QuestionnaireResponse/{pending.id}", headers=headers)).json()
    validate_fhir(older)
    assert older["questionnaire"].endswith("|0.8.0")
    assert older["item"][0]["item"][0]["answer"][0]["valueCoding"]["code"] == "helper"

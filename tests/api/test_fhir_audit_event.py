"""FHIR AuditEvent: a clinician's view of a patient is found by patient, agent and date as a valid
R4 AuditEvent (IHE BALP shape); searching needs the audit scope; paging follows next links."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from click.testing import CliRunner
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.cli import main
from sdm_service.settings import Settings
from tests.api.conftest import MRN_SYSTEM, MakeToken, bearer, completed_response, validate_fhir
from tests.web.clinician_support import signed_in

Client = AsyncTestClient[Litestar]
AUDIT_SCOPES = "system/AuditEvent.s,system/AuditEvent.r"


async def test_a_clinician_view_is_a_valid_audit_event_found_by_patient_agent_and_date(
    client: Client, app: Litestar, settings: Settings, make_token: MakeToken
) -> None:
    response = await completed_response(app, settings, value="MRN-77")
    await completed_response(app, settings, value="MRN-88")  # another patient, never in the answer
    await signed_in(client, app, "dr.okafor")
    assert (await client.get(f"/clinician/responses/{response.id}")).status_code == 200
    client.cookies.clear()

    headers = bearer(await make_token(AUDIT_SCOPES, name="SIEM"))
    today = datetime.now(UTC).date()
    found = await client.get(
        "/fhir/AuditEvent",
        params={
            "patient:identifier": f"{MRN_SYSTEM}|MRN-77",
            "agent": "dr.okafor",
            "date": [f"ge{today.isoformat()}", f"lt{(today + timedelta(days=1)).isoformat()}"],
        },
        headers=headers,
    )
    assert found.status_code == 200, found.text
    assert found.headers["content-type"].startswith("application/fhir+json")
    bundle = found.json()
    validate_fhir(bundle)  # the Bundle and every AuditEvent in it, against the R4B models
    events = [entry["resource"] for entry in bundle["entry"]]
    views = [
        e
        for e in events
        if {"system": "urn:sdm-service:audit-action", "code": "response.view"} in e["subtype"]
    ]
    assert len(views) == 1
    view = views[0]
    assert view["action"] == "R"
    assert view["outcome"] == "0"
    assert view["type"]["code"] == "110110"  # DICOM: Patient Record
    (agent,) = view["agent"]
    assert agent["who"]["display"] == "dr.okafor"
    assert agent["requestor"] is True
    assert agent["network"]["address"]
    assert view["source"]["observer"]["display"] == "sdm-service"
    whats = [entity["what"] for entity in view["entity"]]
    assert {"type": "Patient", "identifier": {"system": MRN_SYSTEM, "value": "MRN-77"}} in whats
    assert {"reference": f"QuestionnaireResponse/{response.id}"} in whats
    assert "MRN-88" not in found.text

    # A date range that excludes today finds nothing.
    earlier = await client.get(
        "/fhir/AuditEvent", params={"date": f"lt{today.isoformat()}", "agent": "dr.okafor"}, headers=headers
    )
    assert earlier.status_code == 200
    assert "entry" not in earlier.json()

    # Read one by id (needs .r), and the SIEM's own reads are on the record.
    read = await client.get(f"/fhir/AuditEvent/{view['id']}", headers=headers)
    assert read.status_code == 200
    validate_fhir(read.json())
    assert read.json()["id"] == view["id"]
    mine = await client.get("/fhir/AuditEvent", params={"agent": "SIEM"}, headers=headers)
    actions = {
        s["code"]
        for e in mine.json()["entry"]
        for s in e["resource"]["subtype"]
        if s["system"].startswith("urn:")
    }
    assert "api.audit.search" in actions


async def test_paging_follows_next_links_newest_first(
    client: Client, app: Litestar, settings: Settings, make_token: MakeToken
) -> None:
    response = await completed_response(app, settings, value="MRN-P1")
    reader = bearer(await make_token("responses:read"))
    for _ in range(3):  # each read of patient data is an audit event
        assert (
            await client.get(f"/fhir/QuestionnaireResponse/{response.id}", headers=reader)
        ).status_code == 200
    headers = bearer(await make_token(AUDIT_SCOPES))
    seen: list[int] = []
    url = "/fhir/AuditEvent?_count=2"
    while url:
        page = await client.get(url, headers=headers)
        assert page.status_code == 200, page.text
        seen += [int(entry["resource"]["id"]) for entry in page.json().get("entry", [])]
        links = {link["relation"]: link["url"] for link in page.json()["link"]}
        url = "" if "next" not in links else f"{urlsplit(links['next']).path}?{urlsplit(links['next']).query}"
        if len(seen) > 50:
            break
    assert seen == sorted(seen, reverse=True)
    assert len(seen) == len(set(seen)) >= 3


async def test_the_audit_scope_is_needed_and_bad_input_is_an_operation_outcome(
    client: Client, make_token: MakeToken
) -> None:
    without = bearer(await make_token("responses:read"))
    refused = await client.get("/fhir/AuditEvent", headers=without)
    assert refused.status_code == 403
    assert refused.json()["resourceType"] == "OperationOutcome"
    assert (await client.get("/fhir/AuditEvent")).status_code == 401

    headers = bearer(await make_token(AUDIT_SCOPES))
    for params in (
        {"date": "yesterday"},
        {"_count": "1000"},
        {"_cursor": "abc"},
        {"patient": "x"},
        {"agent": "a\x01"},
    ):
        answer = await client.get("/fhir/AuditEvent", params=params, headers=headers)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json()["resourceType"] == "OperationOutcome"
    missing = await client.get("/fhir/AuditEvent/999999", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"


async def test_sdm_audit_export_writes_one_valid_audit_event_per_line(
    client: Client, app: Litestar, settings: Settings, make_token: MakeToken, tmp_path: Path
) -> None:
    response = await completed_response(app, settings, value="MRN-E1")
    reader = bearer(await make_token("responses:read"))
    assert (await client.get(f"/fhir/QuestionnaireResponse/{response.id}", headers=reader)).status_code == 200
    target = tmp_path / "audit.ndjson"
    env = {"SDM_DATABASE_URL": settings.database_url, "SDM_ENV": "test", "SDM_BASE_URL": settings.base_url}
    today = datetime.now(UTC).date().isoformat()
    arguments = ["audit", "export", "--since", today, "--format", "fhir-ndjson", "--output", str(target)]
    result = await asyncio.to_thread(CliRunner().invoke, main, arguments, env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    lines = target.read_text().splitlines()
    events = [json.loads(line) for line in lines]
    assert events, result.output
    for event in events:
        validate_fhir(event)
    reads = [e for e in events if e["action"] == "R" and e["agent"][0]["who"]["display"].startswith("EHR")]
    assert reads
    assert {"type": "Patient", "identifier": {"system": MRN_SYSTEM, "value": "MRN-E1"}} in [
        entity["what"] for entity in reads[0]["entity"]
    ]
    assert f"Exported {len(events)} audit events" in result.output

    later = (datetime.now(UTC).date() + timedelta(days=1)).isoformat()
    target.unlink()
    arguments[3] = later
    result = await asyncio.to_thread(CliRunner().invoke, main, arguments, env=env, catch_exceptions=False)
    assert target.read_text() == ""
    refused = await asyncio.to_thread(
        CliRunner().invoke, main, ["audit", "export", "--since", "last week"], env=env
    )
    assert refused.exit_code == 2
    assert "--since" in refused.output

"""The summary PDF is the document of record: rendered once at completion, stored with its SHA-256
and size, and served as those exact bytes by the patient and clinician downloads, the JSON API and
FHIR (Binary, and DocumentReference with attachment.size and attachment.hash)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import threading
import uuid
from collections.abc import Callable

import anyio
import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sdm_service.db import create_engine
from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.models import PatientResponse, SummaryDocument
from sdm_service.report import pdf as report_pdf
from sdm_service.services import documents
from sdm_service.settings import Settings
from tests.api.conftest import (
    completed_response,
    content_of,
    db,
    full_answers,
    invited_response,
    validate_fhir,
)
from tests.api.test_fhir_intake import questionnaire_response
from tests.database import statements_run
from tests.web import patient_support
from tests.web.clinician_support import audit_events, signed_in

Client = AsyncTestClient[Litestar]
PDF_ACCEPT = {"Accept": "application/pdf"}


async def stored_document(app: Litestar, response_id: uuid.UUID) -> SummaryDocument | None:
    async with db(app) as session:
        return await session.get(SummaryDocument, response_id)


async def document_count(app: Litestar, response_id: uuid.UUID) -> int:
    async with db(app) as session:
        statement = select(func.count()).where(col(SummaryDocument.response_id) == response_id)
        return (await session.execute(statement)).scalar_one()


async def forget_document(app: Litestar, response_id: uuid.UUID) -> None:
    """As for a response completed before documents were stored."""
    async with db(app) as session:
        await session.execute(delete(SummaryDocument).where(col(SummaryDocument.response_id) == response_id))
        await session.commit()


def sha1_base64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha1(data).digest()).decode("ascii")


async def api_channels(client: Client, headers: dict[str, str], response_id: uuid.UUID) -> dict[str, bytes]:
    """The PDF bytes as the JSON API and FHIR Binary serve them; DocumentReference checked on the way."""
    v1 = await client.get(f"/api/v1/responses/{response_id}/summary.pdf", headers=headers)
    raw = await client.get(f"/fhir/Binary/{response_id}", headers={**headers, **PDF_ACCEPT})
    resource = await client.get(f"/fhir/Binary/{response_id}", headers=headers)
    for answer in (v1, raw, resource):
        assert answer.status_code == 200, answer.text
    assert v1.headers["content-type"] == raw.headers["content-type"] == "application/pdf"
    validate_fhir(resource.json())
    return {
        "v1": v1.content,
        "fhir-binary-pdf": raw.content,
        "fhir-binary-resource": base64.b64decode(resource.json()["data"]),
    }


async def attachments(client: Client, headers: dict[str, str], response_id: uuid.UUID) -> list[dict]:
    """The attachment of the DocumentReference, as read and as found by a search."""
    read = await client.get(f"/fhir/DocumentReference/{response_id}", headers=headers)
    found = await client.get("/fhir/DocumentReference", params={"_id": str(response_id)}, headers=headers)
    assert read.status_code == found.status_code == 200
    validate_fhir(read.json())
    validate_fhir(found.json())
    (entry,) = found.json()["entry"]
    return [read.json()["content"][0]["attachment"], entry["resource"]["content"][0]["attachment"]]


async def test_every_channel_serves_the_bytes_stored_at_web_completion(
    client: Client, app: Litestar, headers: dict[str, str]
) -> None:
    content = patient_support.content_of(app)
    await patient_support.start(client)
    await patient_support.answer_all(client, content)
    done = await patient_support.submit(client)
    assert done.status_code == 200, done.text
    (response,) = await patient_support.stored_responses(app)
    stored = await stored_document(app, response.id)
    assert stored is not None, "completing on the web stores the PDF once the request has committed"
    assert stored.pdf.startswith(b"%PDF")
    assert (stored.sha256, stored.size) == (hashlib.sha256(stored.pdf).hexdigest(), len(stored.pdf))

    patient = await client.get(f"{patient_support.BASE}/summary.pdf")
    assert patient.status_code == 200
    served = {"patient": patient.content, **await api_channels(client, headers, response.id)}
    await signed_in(client, app, "reader")  # the same client: one event loop for the database pool
    download = await client.get(f"/clinician/responses/{response.id}/summary.pdf")
    assert download.status_code == 200
    served["clinician"] = download.content

    assert {name: hashlib.sha256(data).hexdigest() for name, data in served.items()} == {
        name: stored.sha256 for name in served
    }
    for attachment in await attachments(client, headers, response.id):
        assert attachment["size"] == stored.size
        assert attachment["hash"] == sha1_base64(stored.pdf)
        assert attachment["url"].endswith(f"/fhir/Binary/{response.id}")


async def test_a_fhir_intake_completion_stores_its_document(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    body = questionnaire_response(app, settings, full_answers(content_of(app)))
    created = await client.post("/fhir/QuestionnaireResponse", json=body, headers=headers)
    assert created.status_code == 201, created.text
    response_id = uuid.UUID(created.json()["id"])
    stored = await stored_document(app, response_id)
    assert stored is not None
    served = await api_channels(client, headers, response_id)
    assert set(served.values()) == {stored.pdf}


def fake_renderer(marker: bytes, calls: list[str]) -> Callable[[SummarySnapshot], bytes]:
    def render(snapshot: SummarySnapshot) -> bytes:
        calls.append(snapshot.response_id)
        return b"%PDF-1.7 " + marker + snapshot.response_id.encode()

    return render


async def test_a_new_renderer_does_not_change_a_document_already_handed_out(
    client: Client,
    app: Litestar,
    settings: Settings,
    headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = await completed_response(app, settings, value="MRN-OLD")
    first = await api_channels(client, headers, before.id)

    calls: list[str] = []
    monkeypatch.setattr(report_pdf, "render_summary_pdf", fake_renderer(b"release 2 ", calls))
    after = await api_channels(client, headers, before.id)
    assert after == first
    assert calls == [], "a stored document is never rendered again"

    # The new release does apply to what is completed from now on.
    later = await completed_response(app, settings, value="MRN-NEW")
    assert set((await api_channels(client, headers, later.id)).values()) == {
        b"%PDF-1.7 release 2 " + str(later.id).encode()
    }
    assert calls == [str(later.id)]


async def test_an_old_response_gets_its_document_on_first_request_and_keeps_it(
    client: Client,
    app: Litestar,
    settings: Settings,
    headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old = await completed_response(app, settings)
    await forget_document(app, old.id)
    calls: list[str] = []
    monkeypatch.setattr(report_pdf, "render_summary_pdf", fake_renderer(b"first request ", calls))

    reference = (await attachments(client, headers, old.id))[0]
    stored = await stored_document(app, old.id)
    assert stored is not None
    assert stored.pdf == b"%PDF-1.7 first request " + str(old.id).encode()
    assert (reference["size"], reference["hash"]) == (stored.size, sha1_base64(stored.pdf))
    assert set((await api_channels(client, headers, old.id)).values()) == {stored.pdf}
    assert calls == [str(old.id)]


async def test_concurrent_first_requests_get_identical_bytes_and_store_one_document(
    app: Litestar, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests for an old response's PDF at once, each in its own unit of work, as two server
    processes run them (the test client serves one request at a time, so the service is driven
    directly; renders of one process take turns, so each request here gets its own turn)."""
    old = await completed_response(app, settings)
    await forget_document(app, old.id)
    # Both render before either stores (each its own bytes), so both race to insert. The renderer
    # runs in a worker thread per request: a thread barrier holds each until both are there.
    both_rendered = threading.Barrier(2, timeout=30)  # the timeout only guards against a hang
    renderings = iter((b"%PDF-1.7 one", b"%PDF-1.7 two"))
    lock = threading.Lock()

    def render(snapshot: SummarySnapshot) -> bytes:
        with lock:
            data = next(renderings)
        both_rendered.wait()
        return data

    monkeypatch.setattr(report_pdf, "render_summary_pdf", render)
    two_processes = anyio.CapacityLimiter(2)
    monkeypatch.setattr(report_pdf, "render_limiter", lambda: two_processes)
    engine = create_engine(settings)

    async def request() -> bytes:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            response = await session.get(PatientResponse, old.id)
            assert response is not None
            pdf = await documents.summary_pdf(session, response)
            await session.commit()
            return pdf.content

    try:
        first, second = await asyncio.gather(request(), request())
    finally:
        await engine.dispose()
    stored = await stored_document(app, old.id)
    assert stored is not None
    assert stored.pdf in (b"%PDF-1.7 one", b"%PDF-1.7 two")
    assert first == second == stored.pdf
    assert await document_count(app, old.id) == 1


async def test_no_document_before_completion(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    invited = await invited_response(app, settings)
    assert (
        await client.get(f"/api/v1/responses/{invited.id}/summary.pdf", headers=headers)
    ).status_code == 409
    assert (await client.get(f"/fhir/Binary/{invited.id}", headers=headers)).status_code == 404
    assert await stored_document(app, invited.id) is None


RESPONSE_ROW = re.compile(r"\bFROM responses\b", re.IGNORECASE)


async def binary_reads(app: Litestar) -> list[tuple[str, str, str, str]]:
    """Who read which response through FHIR Binary, on the audit record."""
    return [
        (event.actor_type, event.entity_id, event.detail["via"], event.detail["path"])
        for event in await audit_events(app, "api.response.read")
        if event.detail.get("via") == "fhir-binary"
    ]


async def test_fhir_binary_serves_the_stored_bytes_without_loading_the_response_and_audits_each_read(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    done = await completed_response(app, settings)
    stored = await stored_document(app, done.id)
    assert stored is not None
    with statements_run() as seen:
        raw = await client.get(f"/fhir/Binary/{done.id}", headers={**headers, **PDF_ACCEPT})
        resource = await client.get(f"/fhir/Binary/{done.id}", headers=headers)
    assert raw.status_code == resource.status_code == 200, (raw.text, resource.text)
    assert raw.content == stored.pdf
    assert raw.headers["content-type"] == "application/pdf"
    assert raw.headers["content-disposition"] == f'attachment; filename="{stored.filename}"'
    assert raw.headers["cache-control"] == resource.headers["cache-control"] == "no-store"
    assert resource.headers["content-type"].startswith("application/fhir+json")
    validate_fhir(resource.json())
    assert resource.json()["id"] == str(done.id)
    assert base64.b64decode(resource.json()["data"]) == stored.pdf
    assert any("summary_documents" in statement for statement in seen)
    assert not [s for s in seen if RESPONSE_ROW.search(s)], "a stored document is served by its own row"
    path = f"/fhir/Binary/{done.id}"
    assert await binary_reads(app) == [("api_client", str(done.id), "fhir-binary", path)] * 2


async def test_fhir_binary_of_an_old_response_stores_its_document_and_audits_the_read(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    old = await completed_response(app, settings)
    await forget_document(app, old.id)
    raw = await client.get(f"/fhir/Binary/{old.id}", headers={**headers, **PDF_ACCEPT})
    assert raw.status_code == 200, raw.text
    stored = await stored_document(app, old.id)
    assert stored is not None
    assert raw.content == stored.pdf
    assert raw.headers["content-disposition"] == f'attachment; filename="{stored.filename}"'
    assert await binary_reads(app) == [("api_client", str(old.id), "fhir-binary", f"/fhir/Binary/{old.id}")]


async def test_fhir_binary_of_an_unknown_or_incomplete_response_is_a_not_found_outcome(
    client: Client, app: Litestar, settings: Settings, headers: dict[str, str]
) -> None:
    invited = await invited_response(app, settings)
    unknown = uuid.uuid4()
    cases = {
        str(unknown): f"Binary/{unknown} does not exist.",
        "not-a-uuid": "Binary/not-a-uuid does not exist.",
        str(
            invited.id
        ): f"Binary/{invited.id} does not exist. The summary exists once the response is completed.",
    }
    for resource_id, diagnostics in cases.items():
        for accept in ({}, PDF_ACCEPT):
            answer = await client.get(f"/fhir/Binary/{resource_id}", headers={**headers, **accept})
            assert answer.status_code == 404, (resource_id, accept, answer.text)
            assert answer.headers["content-type"].startswith("application/fhir+json")
            outcome = answer.json()
            validate_fhir(outcome)
            assert outcome["resourceType"] == "OperationOutcome"
            assert [(i["severity"], i["code"], i["diagnostics"]) for i in outcome["issue"]] == [
                ("error", "not-found", diagnostics)
            ]
    assert await stored_document(app, invited.id) is None
    assert await binary_reads(app) == [], "nothing was read, so nothing is on the record"

"""The SDC Task workflow over HTTP: the EHR posts a Task, the patient walks the link, the Task follows
the response to completed with outputs (QuestionnaireResponse, DocumentReference -> Binary PDF); a
cancel ends the link; the JSON v1 invitation makes the same Task; bad input gets OperationOutcomes;
search pages by subject and status; scopes are enforced. Every emitted Task validates."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.fhirmap.task import PATIENT_LINK, SDC_CODES, TaskRejected, read_task_order, requested_status
from sdm_service.models import FhirTask
from sdm_service.services import invitations
from tests.api.conftest import MRN_SYSTEM, MakeToken, bearer, count_rows, db, validate_fhir
from tests.web.clinician_support import audit_events
from tests.web.patient_support import BASE, answer_all, content_of, post_step, step_values, submit

Client = AsyncTestClient[Litestar]
TASK_SCOPES = "system/Task.c,system/Task.r,system/Task.s,system/Task.u,responses:read,invitations:write"
PATCH_TYPE = {"Content-Type": "application/json-patch+json"}
CANCEL = [{"op": "replace", "path": "/status", "value": "cancelled"}]


def order(value: str = "MRN-7001", **changes: Any) -> dict[str, Any]:
    task: dict[str, Any] = {
        "resourceType": "Task",
        "status": "requested",
        "intent": "order",
        "code": {"coding": [{"system": SDC_CODES, "code": "complete-questionnaire"}]},
        "for": {
            "type": "Patient",
            "identifier": {"system": MRN_SYSTEM, "value": value},
            "display": "Ana Diaz",
        },
        "owner": {"display": "Breast clinic nurse navigator"},
        "input": [
            {
                "type": {"coding": [{"system": SDC_CODES, "code": "questionnaire"}]},
                "valueCanonical": "http://testserver.local/fhir/Questionnaire/iort-sdm",
            }
        ],
    }
    task.update(changes)
    return {key: value for key, value in task.items() if value is not None}


@pytest.fixture
async def ehr(make_token: MakeToken) -> dict[str, str]:
    return bearer(await make_token(TASK_SCOPES))


def _link(task: dict[str, Any]) -> str | None:
    for item in task.get("input", []):
        if any(c["code"] == PATIENT_LINK for c in item["type"]["coding"]):
            return item["valueUrl"]
    return None


async def _create(client: Client, ehr: dict[str, str], body: dict[str, Any]) -> dict[str, Any]:
    created = await client.post("/fhir/Task", json=body, headers=ehr)
    assert created.status_code == 201, created.text
    validate_fhir(created.json())
    return created.json()


async def _read(client: Client, ehr: dict[str, str], task_id: str) -> dict[str, Any]:
    answer = await client.get(f"/fhir/Task/{task_id}", headers=ehr)
    assert answer.status_code == 200, answer.text
    validate_fhir(answer.json())
    assert answer.headers["etag"] == f'W/"{answer.json()["meta"]["versionId"]}"'
    return answer.json()


async def test_task_lifecycle_from_request_to_the_pdf(
    client: Client, app: Litestar, ehr: dict[str, str]
) -> None:
    end = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    created = await client.post(
        "/fhir/Task", json=order(restriction={"period": {"end": end.isoformat()}}), headers=ehr
    )
    assert created.status_code == 201, created.text
    task = created.json()
    validate_fhir(task)
    assert created.headers["content-type"].startswith("application/fhir+json")
    assert created.headers["location"].endswith(f"/fhir/Task/{task['id']}")
    assert task["status"] == "requested"
    assert task["intent"] == "order"
    assert task["for"]["identifier"] == {"system": MRN_SYSTEM, "value": "MRN-7001"}
    assert task["owner"] == {"display": "Breast clinic nurse navigator"}
    assert task["input"][0]["valueCanonical"].endswith(
        "/fhir/Questionnaire/iort-sdm|" + content_of(app).version
    )
    assert datetime.fromisoformat(task["restriction"]["period"]["end"]) == end
    link = _link(task)
    assert link is not None
    assert urlsplit(link).path.startswith("/i/")
    assert "output" not in task

    # A later read never shows the link again (only its hash is stored).
    first_read = await _read(client, ehr, task["id"])
    assert _link(first_read) is None
    assert first_read["status"] == "requested"

    # Opening the link is not starting: the first saved step is.
    opened = await client.get(urlsplit(link).path)
    assert opened.status_code == 200
    assert str(opened.url).endswith(f"{BASE}/step/1")
    assert (await _read(client, ehr, task["id"]))["status"] == "requested"
    saved = await post_step(client, 1, step_values(content_of(app), {}, 0))
    assert saved.status_code == 200
    started = await _read(client, ehr, task["id"])
    assert started["status"] == "in-progress"
    assert int(started["meta"]["versionId"]) > int(first_read["meta"]["versionId"])
    assert "output" not in started

    await answer_all(client, content_of(app))
    done = await submit(client)
    assert str(done.url).endswith(f"{BASE}/summary"), done.url
    completed = await _read(client, ehr, task["id"])
    assert completed["status"] == "completed"
    outputs = {o["type"]["coding"][0]["code"]: o["valueReference"]["reference"] for o in completed["output"]}
    response_ref, document_ref = outputs["questionnaire-response"], outputs["summary-document"]
    assert response_ref.startswith("QuestionnaireResponse/")

    response = (await client.get(f"/fhir/{response_ref}", headers=ehr)).json()
    validate_fhir(response)
    assert response["status"] == "completed"
    document = (await client.get(f"/fhir/{document_ref}", headers=ehr)).json()
    validate_fhir(document)
    binary_path = urlsplit(document["content"][0]["attachment"]["url"]).path
    pdf = await client.get(binary_path, headers={**ehr, "Accept": "application/pdf"})
    assert pdf.status_code == 200
    assert pdf.content.startswith(b"%PDF")
    assert len(pdf.content) == document["content"][0]["attachment"]["size"]

    # Completed is final: the EHR can no longer cancel.
    late = await client.patch(f"/fhir/Task/{task['id']}", json=CANCEL, headers={**ehr, **PATCH_TYPE})
    assert late.status_code == 409
    assert late.json()["resourceType"] == "OperationOutcome"
    reads = [e for e in await audit_events(app, "api.task.read") if e.detail.get("task") == task["id"]]
    assert len(reads) == 4  # every read of the Task is on the record, against its response
    assert {e.entity_id for e in reads} == {response_ref.split("/")[1]}


async def test_cancelling_ends_the_patients_link(client: Client, app: Litestar, ehr: dict[str, str]) -> None:
    task = await _create(client, ehr, order("MRN-7002"))
    link_path = urlsplit(_link(task) or "").path
    assert (await client.get(link_path)).status_code == 200
    assert (await post_step(client, 1, step_values(content_of(app), {}, 0))).status_code == 200
    url = f"/fhir/Task/{task['id']}"

    refused = await client.patch(
        url, json=[{"op": "replace", "path": "/status", "value": "completed"}], headers={**ehr, **PATCH_TYPE}
    )
    assert refused.status_code == 400
    assert "cancelled" in refused.json()["issue"][0]["diagnostics"]
    stale = await client.patch(url, json=CANCEL, headers={**ehr, **PATCH_TYPE, "If-Match": 'W/"1"'})
    assert stale.status_code == 412
    not_patch = await client.patch(url, json=CANCEL, headers=ehr)
    assert not_patch.status_code == 415
    assert (await _read(client, ehr, task["id"]))["status"] == "in-progress"

    cancelled = await client.patch(url, json=CANCEL, headers={**ehr, **PATCH_TYPE})
    assert cancelled.status_code == 200, cancelled.text
    validate_fhir(cancelled.json())
    assert cancelled.json()["status"] == "cancelled"
    again = await client.patch(url, json=CANCEL, headers={**ehr, **PATCH_TYPE})
    assert again.status_code == 200
    assert again.json()["meta"]["versionId"] == cancelled.json()["meta"]["versionId"]  # nothing changed

    # The patient's browser, and the link itself, now get the calm "ask for a new link" page.
    step = await client.get(f"{BASE}/step/1")
    assert step.status_code == 410
    assert 'name="lock_version"' not in step.text
    client.cookies.clear()
    via_link = await client.get(link_path)
    assert via_link.status_code == 410
    assert "ask for a new link" in via_link.text
    assert len(await audit_events(app, "response.access_ended")) == 1
    assert len(await audit_events(app, "api.task.update")) == 1


async def test_the_v1_invitation_creates_the_same_task(
    client: Client, app: Litestar, ehr: dict[str, str]
) -> None:
    invited = await client.post(
        "/api/v1/invitations",
        json={"patient": {"system": MRN_SYSTEM, "value": "MRN-7003"}, "ttl_days": 5},
        headers=ehr,
    )
    assert invited.status_code == 201, invited.text
    task = await _read(client, ehr, invited.json()["task_id"])
    assert task["status"] == "requested"
    assert task["for"]["identifier"] == {"system": MRN_SYSTEM, "value": "MRN-7003"}
    assert task["code"]["coding"][0]["code"] == "complete-questionnaire"
    link_end = datetime.fromisoformat(task["restriction"]["period"]["end"])
    # FHIR instants carry milliseconds.
    assert abs(link_end - datetime.fromisoformat(invited.json()["expires_at"])) < timedelta(milliseconds=1)
    # The patient walks the v1 link: the Task follows.
    assert (await client.get(urlsplit(invited.json()["url"]).path)).status_code == 200
    await answer_all(client, content_of(app))
    await submit(client)
    done = await _read(client, ehr, task["id"])
    assert done["status"] == "completed"
    assert (
        done["output"][0]["valueReference"]["reference"]
        == f"QuestionnaireResponse/{invited.json()['response_id']}"
    )


def _without_identifier() -> dict[str, Any]:
    return order(**{"for": {"type": "Patient", "reference": "Patient/123"}})


BAD_TASKS = [
    ("not json", b"{not json", 400, "not valid JSON"),
    ("a list", b"[]", 400, "JSON object"),
    ("another resource", order(resourceType="Patient"), 400, "resourceType"),
    ("broken structure", order(status=12), 400, "Task.status"),
    (
        "wrong code",
        order(code={"coding": [{"system": "http://hl7.org/fhir/CodeSystem/task-code", "code": "fulfill"}]}),
        422,
        "complete-questionnaire",
    ),
    (
        "unknown questionnaire",
        order(
            input=[
                {
                    "type": {"coding": [{"system": SDC_CODES, "code": "questionnaire"}]},
                    "valueCanonical": "http://x/Questionnaire/phq9",
                }
            ]
        ),
        422,
        "Unknown questionnaire",
    ),
    ("no questionnaire", order(input=None), 422, "valueCanonical"),
    ("no identifier", _without_identifier(), 422, "identifier"),
    ("no patient", order(**{"for": None}), 422, "Task.for"),
    ("a draft", order(status="draft"), 422, "requested"),
    ("a plan", order(intent="plan"), 422, "order"),
    ("expiry passed", order(restriction={"period": {"end": "2020-01-01T00:00:00Z"}}), 422, "future"),
]


@pytest.mark.parametrize(("case", "body", "status", "words"), BAD_TASKS, ids=[c[0] for c in BAD_TASKS])
async def test_bad_tasks_get_an_operation_outcome_and_store_nothing(
    client: Client, app: Litestar, ehr: dict[str, str], case: str, body: Any, status: int, words: str
) -> None:
    content = body if isinstance(body, bytes) else None
    answer = await client.post(
        "/fhir/Task",
        content=content,
        json=None if content is not None else body,
        headers={**ehr, "Content-Type": "application/fhir+json"},
    )
    assert answer.status_code == status, answer.text
    outcome = answer.json()
    validate_fhir(outcome)
    assert outcome["resourceType"] == "OperationOutcome"
    assert words in " ".join(issue["diagnostics"] for issue in outcome["issue"])
    assert await count_rows(app, FhirTask) == 0


async def test_an_expiry_past_the_longest_lifetime_is_capped(client: Client, ehr: dict[str, str]) -> None:
    far = datetime.now(UTC) + timedelta(days=900)
    task = await _create(client, ehr, order(restriction={"period": {"end": far.isoformat()}}))
    end = datetime.fromisoformat(task["restriction"]["period"]["end"])
    assert timedelta(days=364) < end - datetime.now(UTC) <= timedelta(days=365)


async def test_search_by_subject_and_status_pages(client: Client, ehr: dict[str, str]) -> None:
    ids = [(await _create(client, ehr, order("MRN-A")))["id"] for _ in range(3)]
    await _create(client, ehr, order("MRN-B"))
    await client.patch(f"/fhir/Task/{ids[0]}", json=CANCEL, headers={**ehr, **PATCH_TYPE})

    subject = f"{MRN_SYSTEM}|MRN-A"
    first = await client.get("/fhir/Task", params={"subject:identifier": subject, "_count": "2"}, headers=ehr)
    assert first.status_code == 200, first.text
    bundle = first.json()
    validate_fhir(bundle)
    assert bundle["total"] == 3
    assert len(bundle["entry"]) == 2
    [next_link] = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
    second = (
        await client.get(urlsplit(next_link).path + "?" + urlsplit(next_link).query, headers=ehr)
    ).json()
    validate_fhir(second)
    seen = [e["resource"]["id"] for e in bundle["entry"] + second["entry"]]
    assert sorted(seen) == sorted(ids)
    assert not [link for link in second["link"] if link["relation"] == "next"]

    requested = (
        await client.get(
            "/fhir/Task", params={"subject:identifier": subject, "status": "requested"}, headers=ehr
        )
    ).json()
    assert sorted(e["resource"]["id"] for e in requested["entry"]) == sorted(ids[1:])
    cancelled = (await client.get("/fhir/Task", params={"status": "cancelled,completed"}, headers=ehr)).json()
    assert [e["resource"]["id"] for e in cancelled["entry"]] == [ids[0]]
    recent = (
        await client.get("/fhir/Task", params={"_lastUpdated": "ge2020-01-01", "_count": "0"}, headers=ehr)
    ).json()
    assert recent["total"] == 4
    assert "entry" not in recent
    future = (await client.get("/fhir/Task", params={"_lastUpdated": "gt2999-01-01"}, headers=ehr)).json()
    assert future["total"] == 0

    for bad in ({"status": "done"}, {"patient": "x"}, {"_count": "500"}, {"_cursor": "nonsense"}):
        refused = await client.get("/fhir/Task", params=bad, headers=ehr)
        assert refused.status_code == 400, (bad, refused.text)
        assert refused.json()["resourceType"] == "OperationOutcome"
    missing = await client.get(f"/fhir/Task/{uuid.uuid4()}", headers=ehr)
    assert missing.status_code == 404
    assert missing.json()["resourceType"] == "OperationOutcome"


async def test_each_interaction_needs_its_own_scope(client: Client, make_token: MakeToken) -> None:
    full = bearer(await make_token(TASK_SCOPES, name="full"))
    task = await _create(client, full, order("MRN-S"))
    read_only = bearer(await make_token("system/Task.r", name="reader"))
    no_create = await client.post("/fhir/Task", json=order("MRN-S"), headers=read_only)
    assert no_create.status_code == 403
    assert "system/Task.c" in no_create.json()["issue"][0]["diagnostics"]
    assert (await client.get(f"/fhir/Task/{task['id']}", headers=read_only)).status_code == 200
    assert (await client.get("/fhir/Task", headers=read_only)).status_code == 403
    assert (
        await client.patch(f"/fhir/Task/{task['id']}", json=CANCEL, headers={**read_only, **PATCH_TYPE})
    ).status_code == 403
    searcher = bearer(await make_token("system/Task.s", name="searcher"))
    assert (await client.get("/fhir/Task", headers=searcher)).status_code == 200
    assert (await client.get(f"/fhir/Task/{task['id']}", headers=searcher)).status_code == 403
    assert (await client.get("/fhir/Task")).status_code == 401


async def test_the_capability_statement_lists_exactly_the_task_interactions(client: Client) -> None:
    statement = (await client.get("/fhir/metadata")).json()
    validate_fhir(statement)
    [task] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Task"]
    assert sorted(i["code"] for i in task["interaction"]) == ["create", "patch", "read", "search-type"]
    assert sorted(p["name"] for p in task["searchParam"]) == [
        "_count",
        "_id",
        "_lastUpdated",
        "status",
        "subject",
    ]
    assert "patient-link" in task["documentation"]


def test_only_a_single_status_replacement_is_a_valid_patch() -> None:
    assert requested_status(CANCEL) == "cancelled"
    for bad in (
        [],
        CANCEL * 2,
        [{"op": "remove", "path": "/status"}],
        [{"op": "replace", "path": "/owner", "value": {}}],
        [{"op": "replace", "path": "/status", "value": "gone"}],
        {"op": "replace"},
    ):
        with pytest.raises(TaskRejected) as refused:
            requested_status(bad)
        assert refused.value.status_code == 400


async def test_ending_access_any_other_way_cancels_an_open_task(
    client: Client, app: Litestar, ehr: dict[str, str]
) -> None:
    by_api = await client.post(
        "/api/v1/invitations", json={"patient": {"system": MRN_SYSTEM, "value": "MRN-7004"}}, headers=ehr
    )
    ended = await client.post(f"/api/v1/responses/{by_api.json()['response_id']}/end-access", headers=ehr)
    assert ended.status_code == 200
    assert (await _read(client, ehr, by_api.json()["task_id"]))["status"] == "cancelled"

    by_clinician = await client.post(
        "/api/v1/invitations", json={"patient": {"system": MRN_SYSTEM, "value": "MRN-7005"}}, headers=ehr
    )
    async with db(app) as session:  # what the clinician's "withdraw" button does
        await invitations.withdraw_invitation(session, uuid.UUID(by_clinician.json()["invitation_id"]))
        await session.commit()
    assert (await _read(client, ehr, by_clinician.json()["task_id"]))["status"] == "cancelled"


def test_a_date_as_link_end_means_the_end_of_that_day() -> None:
    url = "http://testserver.local/fhir/Questionnaire/iort-sdm"
    read = read_task_order(
        order(restriction={"period": {"end": "2027-01-31"}}), questionnaire_url=url, questionnaire_version="2"
    )
    assert read.link_expires_at == datetime(2027, 2, 1, tzinfo=UTC)
    assert read.questionnaire == f"{url}|2"
    with pytest.raises(TaskRejected, match="whole date"):
        read_task_order(
            order(restriction={"period": {"end": "2027-01"}}),
            questionnaire_url=url,
            questionnaire_version="2",
        )

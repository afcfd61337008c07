"""An EHR with only a private key: discovery, token, an SDC Task, and the scopes that Task needs."""

from __future__ import annotations

from joserfc.jwk import ECKey
from litestar import Litestar
from litestar.testing import AsyncTestClient

from tests.api.conftest import bearer, validate_fhir
from tests.api.test_fhir_task import CANCEL, PATCH_TYPE, order
from tests.smart.conftest import MakeClient
from tests.smart.support import assertion, token_form

Client = AsyncTestClient[Litestar]


async def _token(client: Client, client_id: str, key: ECKey, scope: str) -> dict[str, str]:
    config = (await client.get("/fhir/.well-known/smart-configuration")).json()
    signed = assertion(client_id, key, aud=config["token_endpoint"])
    answer = await client.post("/auth/token", data=token_form(signed, scope))
    assert answer.status_code == 200, answer.text
    return bearer(answer.json()["access_token"])


async def test_a_smart_client_creates_reads_searches_and_cancels_a_task(
    client: Client, make_client: MakeClient, ec_key: ECKey
) -> None:
    ehr = await make_client(ec_key, scopes="system/Task.crus", name="EHR tasks")
    full = await _token(client, str(ehr.id), ec_key, "system/Task.crus")
    created = await client.post("/fhir/Task", json=order("MRN-SMART-1"), headers=full)
    assert created.status_code == 201, created.text
    task = validate_fhir(created.json())
    read = await client.get(f"/fhir/Task/{task.id}", headers=full)
    assert read.status_code == 200
    found = await client.get("/fhir/Task", params={"subject:identifier": "MRN-SMART-1"}, headers=full)
    assert found.json()["total"] == 1

    # A token asking only for read: it can read, not search, create or cancel.
    reader = await _token(client, str(ehr.id), ec_key, "system/Task.r")
    assert (await client.get(f"/fhir/Task/{task.id}", headers=reader)).status_code == 200
    assert (await client.get("/fhir/Task", headers=reader)).status_code == 403
    assert (await client.post("/fhir/Task", json=order("MRN-SMART-2"), headers=reader)).status_code == 403
    refused = await client.patch(f"/fhir/Task/{task.id}", json=CANCEL, headers={**reader, **PATCH_TYPE})
    assert refused.status_code == 403
    assert "system/Task.u" in refused.text

    cancelled = await client.patch(f"/fhir/Task/{task.id}", json=CANCEL, headers={**full, **PATCH_TYPE})
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"

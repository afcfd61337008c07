"""A real FHIR client (fhirpy) drives a SMART session over HTTP against a running server: token
from the endpoint the discovery document names, then a Questionnaire read and a
QuestionnaireResponse search with the access token."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fhirpy import AsyncFHIRClient
from fhirpy.base.exceptions import ForbiddenError
from joserfc.jwk import RSAKey
from litestar import Litestar
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.app import create_app
from sdm_service.db import create_engine
from sdm_service.services import api_clients
from tests.api.conftest import MRN_SYSTEM, completed_response, validate_fhir
from tests.conftest import make_settings
from tests.smart.support import assertion, public_jwks, token_form

READY_SECONDS = 30


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[Litestar]:
    """The service on a loopback port (uvicorn in a thread), on its own SQLite file."""
    path = tmp_path_factory.mktemp("smart-live") / "sdm.db"
    shutil.copyfile(sqlite_template, path)
    port = _free_port()
    settings = make_settings(f"sqlite+aiosqlite:///{path}", base_url=f"http://127.0.0.1:{port}")
    app = create_app(settings)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + READY_SECONDS
    while not server.started:  # polling for readiness, not a timed assertion
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail("the live server did not start")
        time.sleep(0.05)
    yield app
    server.should_exit = True
    thread.join(timeout=READY_SECONDS)


async def test_fhirpy_reads_and_searches_with_a_smart_token(live_app: Litestar, rsa_key: RSAKey) -> None:
    settings = live_app.state.settings
    base = settings.base_url
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            ehr = (
                await api_clients.create_api_client(
                    session,
                    "fhirpy EHR",
                    "system/Questionnaire.rs system/QuestionnaireResponse.rs",
                    jwks=public_jwks(rsa_key),
                )
            ).client
            await session.commit()
    finally:
        await engine.dispose()
    done = await completed_response(live_app, settings, value="MRN-FHIRPY")

    async with httpx.AsyncClient(base_url=base) as http:
        config = (await http.get("/fhir/.well-known/smart-configuration")).json()
        signed = assertion(str(ehr.id), rsa_key, aud=config["token_endpoint"])
        granted = await http.post(
            config["token_endpoint"],
            data=token_form(signed, "system/Questionnaire.rs system/QuestionnaireResponse.s"),
        )
    assert granted.status_code == 200, granted.text
    token: dict[str, Any] = granted.json()

    fhir = AsyncFHIRClient(f"{base}/fhir", authorization=f"Bearer {token['access_token']}")
    questionnaire = await fhir.reference("Questionnaire", "iort-sdm").to_resource()
    assert questionnaire["url"]
    validate_fhir(questionnaire.serialize())
    found = (
        await fhir.resources("QuestionnaireResponse")
        .search(**{"subject:identifier": f"{MRN_SYSTEM}|MRN-FHIRPY"})
        .fetch_all()
    )
    assert [resource["id"] for resource in found] == [str(done.id)]
    for resource in found:
        validate_fhir(resource.serialize())
    # The token was granted search, not read: a read of the same response is refused.
    with pytest.raises(ForbiddenError, match=r"system/QuestionnaireResponse\.r"):
        await fhir.reference("QuestionnaireResponse", str(done.id)).to_resource()

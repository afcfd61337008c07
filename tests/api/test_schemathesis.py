"""Property-based run over the OpenAPI schema (JSON API v1 and FHIR): with a valid token, no
generated request may cause a server error or a response that breaks the documented schema.

Bounded and deterministic: a fixed number of examples per operation, derandomized."""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from litestar import Litestar
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.app import create_app
from sdm_service.db import create_engine
from sdm_service.services.api_clients import create_api_client
from sdm_service.settings import Settings
from tests.api.conftest import ALL_SCOPES
from tests.conftest import make_settings

EXAMPLES_PER_OPERATION = 12


async def _token(settings: Settings) -> str:
    engine = create_engine(settings)  # its own engine: the app's runs on schemathesis' event loop
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            created = await create_api_client(session, "schemathesis", ALL_SCOPES)
            await session.commit()
    finally:
        await engine.dispose()
    return created.token


@pytest.fixture
def fuzz_settings(database_url: str) -> Settings:
    # Every generated request counts against the API rate limit; this run is not about limits.
    return make_settings(database_url, base_url="http://testserver", api_requests_per_window=1_000_000)


@pytest.fixture
def fuzz_app(fuzz_settings: Settings) -> Litestar:
    return create_app(fuzz_settings)


@pytest.fixture
def fuzz_token(fuzz_settings: Settings) -> str:
    return asyncio.run(_token(fuzz_settings))


@pytest.mark.slow
def test_api_schema_holds(fuzz_app: Litestar, fuzz_token: str) -> None:
    schema = schemathesis.openapi.from_asgi("/schema/openapi.json", fuzz_app).include(
        path_regex="^/(api/v1|fhir)/"
    )
    headers = {"Authorization": f"Bearer {fuzz_token}"}
    failures: dict[str, str] = {}
    statuses: dict[str, set[int]] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 12

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            phases=[Phase.explicit, Phase.generate],  # report the first failure, skip shrinking
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call_and_validate(
                headers=headers, checks=[not_a_server_error, response_schema_conformance]
            )
            statuses.setdefault(case.operation.label, set()).add(response.status_code)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures[operation.label] = str(exc)[:2000]
    # The token works: the run reached the handlers rather than bouncing off authentication.
    assert all(401 not in codes and 403 not in codes for codes in statuses.values()), statuses
    assert 201 in statuses["POST /api/v1/invitations"]
    assert 200 in statuses["GET /api/v1/responses"]
    assert 200 in statuses["GET /fhir/QuestionnaireResponse"]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())

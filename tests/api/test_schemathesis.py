"""`schemathesis run --checks all` over the served OpenAPI schema (JSON API v1 and FHIR) finds no
failure: no server error, no answer outside the documented schema, status codes, headers or Allow
methods, no schema-valid request refused and no schema-violating one accepted (issue 15, item 9).

The real command against the real server (`sdm run` on SQLite), with the project's
schemathesis.toml; bounded (a few examples per operation, a fixed seed) so it stays well under a
minute."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.db import create_engine
from sdm_service.services.api_clients import create_api_client
from sdm_service.settings import Settings
from tests.api.conftest import ALL_SCOPES
from tests.conftest import make_settings
from tests.live import free_port, running_sdm

EXAMPLES_PER_OPERATION = 5
SEED = 1
PROJECT_ROOT = Path(__file__).resolve().parents[2]


async def _token(settings: Settings) -> str:
    engine = create_engine(settings)
    try:
        async with AsyncSession(engine, expire_on_commit=False) as session:
            created = await create_api_client(session, "schemathesis", ALL_SCOPES)
            await session.commit()
    finally:
        await engine.dispose()
    return created.token


def _command(name: str) -> str:
    return shutil.which(name, path=str(Path(sys.executable).parent)) or name


@pytest.fixture(scope="session")
def served_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`sdm run` on a fresh SQLite database, and a token with every scope: (base URL, token)."""
    workdir = tmp_path_factory.mktemp("schemathesis")
    port = free_port()
    env = {
        **os.environ,
        "SDM_DATABASE_URL": f"sqlite:///{workdir / 'api.db'}",
        "SDM_BASE_URL": f"http://127.0.0.1:{port}",
        "SDM_ENV": "development",
        "SDM_LOG_LEVEL": "WARNING",
        # Every generated request counts against the API limits; this run is not about limits.
        "SDM_API_REQUESTS_PER_WINDOW": "1000000",
    }
    with running_sdm(env, port, workdir) as url:
        yield url, asyncio.run(_token(make_settings(env["SDM_DATABASE_URL"])))


@pytest.mark.slow
def test_schemathesis_with_every_check_finds_no_failure(served_api: tuple[str, str]) -> None:
    url, token = served_api
    run = subprocess.run(
        [
            _command("schemathesis"),
            "run",
            f"{url}/schema/openapi.json",
            "--checks",
            "all",
            "--include-path-regex",
            "^/(api/v1|fhir)/",
            "--header",
            f"Authorization: Bearer {token}",
            "--max-examples",
            str(EXAMPLES_PER_OPERATION),
            "--seed",
            str(SEED),
            "--no-color",
        ],
        cwd=PROJECT_ROOT,  # schemathesis.toml
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    for phase in ("Examples", "Coverage", "Fuzzing", "Stateful"):  # every phase ran
        assert phase in run.stdout, run.stdout[-3000:]
    # The token worked: the run reached the handlers and created invitations (a run refused with
    # 401 everywhere would pass every check without testing anything).
    request = urllib.request.Request(
        f"{url}/api/v1/responses?limit=1", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.load(answer)["items"], "the run created no invitation"

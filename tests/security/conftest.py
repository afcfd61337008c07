"""Fixtures shared by the security tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from sdm_service.app import create_app
from tests.conftest import make_settings
from tests.security import probes


@pytest.fixture
async def probe_client(sqlite_url: str) -> AsyncIterator[AsyncTestClient[Litestar]]:
    """A real app with the probe routes of probes.py, on SQLite."""
    app = probes.add_probes(create_app(make_settings(sqlite_url)))
    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        yield client

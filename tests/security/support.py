"""Helpers shared by the security and reliability tests."""

from __future__ import annotations

import uuid

from litestar import Litestar

from sdm_service.models import PatientResponse
from sdm_service.services import api_clients
from tests.database import db

API_SCOPES = "invitations:write,responses:read,responses:write"


async def api_token(app: Litestar, scopes: str = API_SCOPES) -> dict[str, str]:
    """Authorization headers for a new API client with `scopes`."""
    async with db(app) as session:
        created = await api_clients.create_api_client(session, "EHR review tests", scopes)
        await session.commit()
    return {"Authorization": f"Bearer {created.token}"}


async def stored(app: Litestar, response_id: uuid.UUID) -> PatientResponse:
    async with db(app) as session:
        row = await session.get(PatientResponse, response_id)
        assert row is not None
        return row

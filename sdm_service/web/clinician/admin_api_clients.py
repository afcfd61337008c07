"""Administrator page for integration clients: see every API client and revoke one.

Clients (SMART key sets or static tokens) are created only with `sdm api-clients create` (so a
token is never shown in a browser);
revoking works from here or from the command line. Mounted under /clinician/admin, behind the
clinician sign-in and the administrator guard of the clinician workspace.
(Registered with the clinician workspace routes in web/clinician/__init__.py.)
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from litestar import get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from sdm_service.services import api_clients
from sdm_service.web.clinician.common import ClinicianCall, admin_pages_router


@get("/", name="clinician:admin-api-clients", include_in_schema=False)
async def api_clients_view(call: NamedDependency[ClinicianCall]) -> Template:
    clients = await api_clients.list_api_clients(call.db_session)
    return call.page(
        "clinician/admin_api_clients.html",
        {
            "clients": sorted(clients, key=lambda c: (c.revoked_at is not None, c.name.lower())),
            "scope_help": api_clients.SCOPES,
            "static_tokens": call.settings.static_api_tokens,
            "revoked": call.query("revoked")[:120],
        },
    )


@post("/{client_id:uuid}/revoke", include_in_schema=False, status_code=303)
async def revoke_api_client(call: NamedDependency[ClinicianCall], client_id: FromPath[uuid.UUID]) -> Redirect:
    try:
        client = await api_clients.find_api_client(call.db_session, str(client_id))
    except api_clients.ApiClientError:
        raise NotFoundException("No API client has this id.") from None
    if client.revoked_at is None:
        await api_clients.revoke_api_client(call.db_session, str(client.id))
        await call.audit(
            "api_client.revoke",
            entity_type="api_client",
            entity_id=str(client.id),
            detail={"name": client.name},
        )
    return Redirect(f"/clinician/admin/api-clients?revoked={quote(client.name)}", status_code=303)


routes: list[Any] = [
    admin_pages_router("/clinician/admin/api-clients", [api_clients_view, revoke_api_client])
]

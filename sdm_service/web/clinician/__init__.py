"""The clinician workspace under /clinician: sign-in, worklist, responses, invitations, admin.

Everything except the sign-in and sign-out endpoints sits behind `require_clinician`; the admin
pages also need `require_admin`. Anonymous page requests are redirected to the sign-in form.
"""

from __future__ import annotations

from typing import Any

from litestar import Router

from sdm_service.web import auth
from sdm_service.web.clinician import (
    admin_api_clients,
    admin_deliveries,
    invitations,
    responses,
    signin,
    signin_mfa,
    signin_oidc,
)
from sdm_service.web.clinician.account import account_router
from sdm_service.web.clinician.admin import admin_router
from sdm_service.web.clinician.common import CALL_DEPENDENCIES
from sdm_service.web.clinician.signin_steps import ATTEMPT_DEPENDENCY

_workspace = Router(
    path="/",
    route_handlers=[*responses.routes, *invitations.routes, admin_router],
    guards=[auth.require_clinician],
)

routes: list[Any] = [
    Router(
        path="/clinician",
        route_handlers=[*signin.routes, *signin_mfa.routes, *signin_oidc.routes, account_router, _workspace],
        dependencies={**CALL_DEPENDENCIES, **ATTEMPT_DEPENDENCY},
        exception_handlers=auth.exception_handlers,
    ),
    *admin_api_clients.routes,
    *admin_deliveries.routes,
]

"""Administrator pages under /clinician/admin: accounts (list, create, deactivate), with one account's
actions (admin_accounts) and the audit log (audit_log) registered on the same router.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from litestar import Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from sdm_service.models import Role
from sdm_service.security import PasswordHashing
from sdm_service.services import passwords, users
from sdm_service.web import auth
from sdm_service.web.clinician import admin_accounts, audit_log
from sdm_service.web.clinician.common import ClinicianCall, FormError, field, read_fields


def _blank_account() -> dict[str, str]:
    """The new-account form's fields, as it first shows them."""
    return {"username": "", "display_name": "", "role": Role.CLINICIAN}


async def _accounts_page(
    call: ClinicianCall,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    return call.page(
        "clinician/admin_users.html",
        {
            "accounts": await users.list_users(call.db_session),
            "values": values or _blank_account(),
            "roles": Role.ALL,
            "error": error,
            "created": call.query("created"),
            "deactivated": call.query("deactivated"),
            "min_password": passwords.MIN_PASSWORD_LENGTH,
        },
        status_code=status_code,
    )


@get("/users", name="clinician:admin-users", include_in_schema=False)
async def accounts_view(call: NamedDependency[ClinicianCall]) -> Template:
    return await _accounts_page(call)


@post("/users", include_in_schema=False, status_code=303)
async def create_account(
    call: NamedDependency[ClinicianCall], password_hashing: NamedDependency[PasswordHashing]
) -> Template | Redirect:
    form = await call.form()
    values = _blank_account()
    try:
        read_fields(form, values)
        password = field(form, "password")
        if password != field(form, "password_confirm"):
            raise FormError("The two passwords do not match.")
        account = await users.create_user(
            call.db_session,
            username=values["username"],
            password=password,
            role=values["role"],
            display_name=values["display_name"],
            hashing=password_hashing,
        )
    except (FormError, users.UserError) as exc:
        return await _accounts_page(call, values=values, error=str(exc), status_code=400)
    await call.audit_account("user.create", account, role=account.role)
    return Redirect(f"/clinician/admin/users?created={quote(account.username)}", status_code=303)


@post("/users/{user_id:uuid}/deactivate", include_in_schema=False, status_code=303)
async def deactivate_account(
    call: NamedDependency[ClinicianCall], user_id: FromPath[uuid.UUID]
) -> Template | Redirect:
    account = await admin_accounts.account_or_404(call, user_id)
    if account.id == call.current_user.id:
        error = "You cannot deactivate your own account. Ask another administrator."
        return await _accounts_page(call, error=error, status_code=400)
    if await users.deactivate_user(call.db_session, account):
        await call.audit_account("user.deactivate", account)
    return Redirect(f"/clinician/admin/users?deactivated={quote(account.username)}", status_code=303)


admin_router = Router(
    path="/admin",
    route_handlers=[
        accounts_view,
        create_account,
        deactivate_account,
        *admin_accounts.routes,
        *audit_log.routes,
    ],
    guards=[auth.require_admin],
)

"""Administrator pages: accounts (list, create, deactivate) and the audit log (read and filter only;
every view of it is itself audited).

There is deliberately no route that edits or deletes an audit event.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote, urlencode

from litestar import Router, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from sdm_service.models import Role
from sdm_service.security import PasswordHashing
from sdm_service.services import audit_query, passwords, users
from sdm_service.web import auth
from sdm_service.web.clinician import admin_accounts
from sdm_service.web.clinician.common import (
    ClinicianCall,
    FormError,
    field,
    page_links,
    parse_date,
    parse_page,
    read_fields,
)


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


@get("/audit", name="clinician:audit", include_in_schema=False)
async def audit_view(call: NamedDependency[ClinicianCall]) -> Template:
    form_values = {name: call.query(name) for name in ("action", "actor", "entity_id", "from", "to")}
    actions = await audit_query.known_actions(call.db_session)
    try:
        filters = audit_query.AuditFilters(
            action=form_values["action"],
            actor=form_values["actor"],
            entity_id=form_values["entity_id"],
            date_from=parse_date(form_values["from"], "From"),
            date_to=parse_date(form_values["to"], "To"),
            page=parse_page(call.query("page")),
        )
    except (FormError, audit_query.AuditFilterError) as exc:
        return call.page(
            "clinician/audit.html",
            {"error": str(exc), "result": None, "form": form_values, "actions": actions},
            status_code=400,
        )
    result = await audit_query.audit_page(call.db_session, filters)
    base = [(k, v) for k, v in form_values.items() if v]
    # Reading the audit log is itself on the record. Added after the queries above, so this view
    # is not among the entries it shows, and written when the request's unit of work commits.
    await call.audit(
        "audit.view",
        entity_type="audit_event",
        detail={"filters": {k: v[:200] for k, v in base}, "page": result.page, "total": result.total},
    )
    return call.page(
        "clinician/audit.html",
        {
            "error": None,
            "result": result,
            "form": form_values,
            "actions": actions,
            **page_links(result.page, result.pages, lambda number: urlencode([*base, ("page", str(number))])),
        },
    )


admin_router = Router(
    path="/admin",
    route_handlers=[accounts_view, create_account, deactivate_account, audit_view, *admin_accounts.routes],
    guards=[auth.require_admin],
)

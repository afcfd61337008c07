"""Administrator pages: accounts (list, create, deactivate) and the audit log (read and filter only;
every view of it is itself audited).

There is deliberately no route that edits or deletes an audit event.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote, urlencode

from litestar import Request, Router, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.models import Role, User
from sdm_service.security import PasswordHashing
from sdm_service.services import audit_query, passwords, users
from sdm_service.web import auth
from sdm_service.web.clinician import admin_accounts
from sdm_service.web.clinician.common import (
    FormError,
    audit,
    audit_account,
    field,
    page,
    parse_date,
    parse_page,
    read_form,
)

ACCOUNT_FIELDS = ("username", "display_name", "role")


async def _accounts_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    user: User,
    *,
    values: dict[str, str] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        "clinician/admin_users.html",
        user,
        {
            "accounts": await users.list_users(db_session),
            "values": values or {"username": "", "display_name": "", "role": Role.CLINICIAN},
            "roles": Role.ALL,
            "error": error,
            "created": request.query_params.get("created", ""),
            "deactivated": request.query_params.get("deactivated", ""),
            "min_password": passwords.MIN_PASSWORD_LENGTH,
        },
        status_code=status_code,
    )


@get("/users", name="clinician:admin-users", include_in_schema=False)
async def accounts_view(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    current_user: NamedDependency[User],
) -> Template:
    return await _accounts_page(request, db_session, current_user)


@post("/users", include_in_schema=False, status_code=303)
async def create_account(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    current_user: NamedDependency[User],
    password_hashing: NamedDependency[PasswordHashing],
) -> Template | Redirect:
    form = await read_form(request)
    values = {"username": "", "display_name": "", "role": Role.CLINICIAN}
    try:
        for name in ACCOUNT_FIELDS:
            values[name] = field(form, name).strip()
        password = field(form, "password")
        if password != field(form, "password_confirm"):
            raise FormError("The two passwords do not match.")
        account = await users.create_user(
            db_session,
            username=values["username"],
            password=password,
            role=values["role"],
            display_name=values["display_name"],
            hashing=password_hashing,
        )
    except (FormError, users.UserError) as exc:
        return await _accounts_page(
            request, db_session, current_user, values=values, error=str(exc), status_code=400
        )
    await audit_account(request, db_session, current_user, "user.create", account, role=account.role)
    return Redirect(f"/clinician/admin/users?created={quote(account.username)}", status_code=303)


@post("/users/{user_id:uuid}/deactivate", include_in_schema=False, status_code=303)
async def deactivate_account(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    current_user: NamedDependency[User],
    user_id: FromPath[uuid.UUID],
) -> Template | Redirect:
    account = await users.get_user(db_session, user_id)
    if account is None:
        raise NotFoundException("No account with this id.")
    if account.id == current_user.id:
        return await _accounts_page(
            request,
            db_session,
            current_user,
            error="You cannot deactivate your own account. Ask another administrator.",
            status_code=400,
        )
    if await users.deactivate_user(db_session, account):
        await audit_account(request, db_session, current_user, "user.deactivate", account)
    return Redirect(f"/clinician/admin/users?deactivated={quote(account.username)}", status_code=303)


@get("/audit", name="clinician:audit", include_in_schema=False)
async def audit_view(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    current_user: NamedDependency[User],
) -> Template:
    raw = request.query_params
    form_values = {name: raw.get(name, "") for name in ("action", "actor", "entity_id", "from", "to")}
    actions = await audit_query.known_actions(db_session)
    try:
        filters = audit_query.AuditFilters(
            action=form_values["action"],
            actor=form_values["actor"],
            entity_id=form_values["entity_id"],
            date_from=parse_date(form_values["from"], "From"),
            date_to=parse_date(form_values["to"], "To"),
            page=parse_page(raw.get("page", "")),
        )
    except (FormError, audit_query.AuditFilterError) as exc:
        return page(
            "clinician/audit.html",
            current_user,
            {"error": str(exc), "result": None, "form": form_values, "actions": actions},
            status_code=400,
        )
    result = await audit_query.audit_page(db_session, filters)
    base = [(k, v) for k, v in form_values.items() if v]
    # Reading the audit log is itself on the record. Added after the queries above, so this view
    # is not among the entries it shows, and written when the request's unit of work commits.
    await audit(
        request,
        db_session,
        current_user,
        "audit.view",
        entity_type="audit_event",
        detail={"filters": {k: v[:200] for k, v in base}, "page": result.page, "total": result.total},
    )
    return page(
        "clinician/audit.html",
        current_user,
        {
            "error": None,
            "result": result,
            "form": form_values,
            "actions": actions,
            "prev_query": urlencode([*base, ("page", str(result.page - 1))]) if result.page > 1 else None,
            "next_query": urlencode([*base, ("page", str(result.page + 1))])
            if result.page < result.pages
            else None,
        },
    )


admin_router = Router(
    path="/admin",
    route_handlers=[accounts_view, create_account, deactivate_account, audit_view, *admin_accounts.routes],
    guards=[auth.require_admin],
)

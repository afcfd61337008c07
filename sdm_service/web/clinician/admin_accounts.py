"""Administrator actions on one account: unlock after failed sign-ins, set a new password (the
person must change it at next sign-in), end every session. Each is audited."""

from __future__ import annotations

import uuid

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from sdm_service.models import User
from sdm_service.ratelimit import RateLimitStore
from sdm_service.security import PasswordHashing
from sdm_service.services import passwords, sessions, signin, users
from sdm_service.web.clinician.common import ClinicianCall, FormError, field


async def account_or_404(call: ClinicianCall, user_id: uuid.UUID) -> User:
    return await call.row_or_404(User, user_id, "No account with this id.")


async def _detail_page(
    call: ClinicianCall,
    store: RateLimitStore,
    account: User,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    return call.page(
        "clinician/admin_account.html",
        {
            "account": account,
            "locked": await signin.is_locked(store, account.username),
            "sessions": await sessions.list_sessions(call.db_session, call.settings, account.id),
            "error": error,
            "done": call.query("done"),
            "min_password": passwords.MIN_PASSWORD_LENGTH,
        },
        status_code=status_code,
    )


def _back(account: User, done: str) -> Redirect:
    return Redirect(f"/clinician/admin/users/{account.id}?done={done}", status_code=303)


@get("/users/{user_id:uuid}", name="clinician:admin-account", include_in_schema=False)
async def account_view(
    call: NamedDependency[ClinicianCall],
    rate_limits: NamedDependency[RateLimitStore],
    user_id: FromPath[uuid.UUID],
) -> Template:
    return await _detail_page(call, rate_limits, await account_or_404(call, user_id))


@post("/users/{user_id:uuid}/unlock", include_in_schema=False, status_code=303)
async def unlock_account(
    call: NamedDependency[ClinicianCall],
    rate_limits: NamedDependency[RateLimitStore],
    user_id: FromPath[uuid.UUID],
) -> Redirect:
    account = await account_or_404(call, user_id)
    was_locked = await signin.unlock(rate_limits, account.username)
    await call.audit_account("user.unlock", account, was_locked=was_locked)
    return _back(account, "unlocked")


@post("/users/{user_id:uuid}/password", include_in_schema=False, status_code=303)
async def reset_password(
    call: NamedDependency[ClinicianCall],
    rate_limits: NamedDependency[RateLimitStore],
    password_hashing: NamedDependency[PasswordHashing],
    user_id: FromPath[uuid.UUID],
) -> Template | Redirect:
    account = await account_or_404(call, user_id)
    form = await call.form()
    try:
        new = field(form, "new_password")
        if new != field(form, "new_password_confirm"):
            raise FormError("The two passwords do not match.")
        await users.set_password(call.db_session, account, new, hashing=password_hashing, must_change=True)
    except (FormError, users.UserError) as exc:
        return await _detail_page(call, rate_limits, account, error=str(exc), status_code=400)
    ended = await users.end_sessions(call.db_session, account.id)
    await call.audit_account("user.password.reset", account, sessions_ended=ended)
    return _back(account, "password")


@post("/users/{user_id:uuid}/sessions/end", include_in_schema=False, status_code=303)
async def end_account_sessions(
    call: NamedDependency[ClinicianCall], user_id: FromPath[uuid.UUID]
) -> Redirect:
    account = await account_or_404(call, user_id)
    ended = await users.end_sessions(call.db_session, account.id)
    await call.audit_account("auth.session.end_all", account, sessions_ended=ended)
    return _back(account, "sessions")


routes = [account_view, unlock_account, reset_password, end_account_sessions]

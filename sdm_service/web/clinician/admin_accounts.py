"""Administrator actions on one account: unlock after failed sign-ins, set a new password (the
person must change it at next sign-in), end every session. Each is audited."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.models import User
from sdm_service.ratelimit import RateLimitStore
from sdm_service.security import PasswordHashing
from sdm_service.services import passwords, sessions, signin, users
from sdm_service.settings import Settings
from sdm_service.web.clinician.common import FormError, audit_account, field, page, read_form


async def _account(db_session: AsyncSession, user_id: uuid.UUID) -> User:
    account = await users.get_user(db_session, user_id)
    if account is None:
        raise NotFoundException("No account with this id.")
    return account


async def _detail_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    settings: Settings,
    store: RateLimitStore,
    current_user: User,
    account: User,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    return page(
        "clinician/admin_account.html",
        current_user,
        {
            "account": account,
            "locked": await signin.is_locked(store, account.username),
            "sessions": await sessions.list_sessions(db_session, settings, account.id),
            "error": error,
            "done": request.query_params.get("done", ""),
            "min_password": passwords.MIN_PASSWORD_LENGTH,
        },
        status_code=status_code,
    )


def _back(account: User, done: str) -> Redirect:
    return Redirect(f"/clinician/admin/users/{account.id}?done={done}", status_code=303)


@get("/users/{user_id:uuid}", name="clinician:admin-account", include_in_schema=False)
async def account_view(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    rate_limits: NamedDependency[RateLimitStore],
    current_user: NamedDependency[User],
    user_id: FromPath[uuid.UUID],
) -> Template:
    account = await _account(db_session, user_id)
    return await _detail_page(request, db_session, settings, rate_limits, current_user, account)


@post("/users/{user_id:uuid}/unlock", include_in_schema=False, status_code=303)
async def unlock_account(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    rate_limits: NamedDependency[RateLimitStore],
    current_user: NamedDependency[User],
    user_id: FromPath[uuid.UUID],
) -> Redirect:
    account = await _account(db_session, user_id)
    was_locked = await signin.unlock(rate_limits, account.username)
    await audit_account(request, db_session, current_user, "user.unlock", account, was_locked=was_locked)
    return _back(account, "unlocked")


@post("/users/{user_id:uuid}/password", include_in_schema=False, status_code=303)
async def reset_password(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    rate_limits: NamedDependency[RateLimitStore],
    password_hashing: NamedDependency[PasswordHashing],
    current_user: NamedDependency[User],
    user_id: FromPath[uuid.UUID],
) -> Template | Redirect:
    account = await _account(db_session, user_id)
    form = await read_form(request)
    try:
        new = field(form, "new_password")
        if new != field(form, "new_password_confirm"):
            raise FormError("The two passwords do not match.")
        await users.set_password(db_session, account, new, hashing=password_hashing, must_change=True)
    except (FormError, users.UserError) as exc:
        return await _detail_page(
            request, db_session, settings, rate_limits, current_user, account, error=str(exc), status_code=400
        )
    ended = await users.end_sessions(db_session, account.id)
    await audit_account(
        request, db_session, current_user, "user.password.reset", account, sessions_ended=ended
    )
    return _back(account, "password")


@post("/users/{user_id:uuid}/sessions/end", include_in_schema=False, status_code=303)
async def end_account_sessions(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    current_user: NamedDependency[User],
    user_id: FromPath[uuid.UUID],
) -> Redirect:
    account = await _account(db_session, user_id)
    ended = await users.end_sessions(db_session, account.id)
    await audit_account(
        request, db_session, current_user, "auth.session.end_all", account, sessions_ended=ended
    )
    return _back(account, "sessions")


routes = [account_view, unlock_account, reset_password, end_account_sessions]

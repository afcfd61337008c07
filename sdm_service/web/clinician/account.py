"""The signed-in person's own account: change the password, see and end one's sessions.

The password page is reachable while a password change is required (require_signed_in); the
sessions pages are not (require_clinician). Policy lives in services/users.py and sessions.py.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Router, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.models import User
from sdm_service.security import PasswordHashing, hash_token
from sdm_service.services import passwords, sessions, users
from sdm_service.settings import Settings
from sdm_service.web import auth
from sdm_service.web.clinician import account_mfa
from sdm_service.web.clinician.common import FormError, audit_own_account, field, page, read_form

SESSIONS_PATH = "/clinician/account/sessions"


def _password_page(
    user: User, *, error: str | None = None, status_code: int = 200, changed: bool = False
) -> Template:
    return page(
        "clinician/account_password.html",
        user,
        {"error": error, "changed": changed, "min_password": passwords.MIN_PASSWORD_LENGTH},
        status_code=status_code,
    )


@get("/password", name="clinician:password", include_in_schema=False)
async def password_form(request: Request[Any, Any, Any], current_user: NamedDependency[User]) -> Template:
    return _password_page(current_user, changed=request.query_params.get("changed") == "1")


@post("/password", include_in_schema=False, status_code=303)
async def change_password(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    current_user: NamedDependency[User],
    settings: NamedDependency[Settings],
    password_hashing: NamedDependency[PasswordHashing],
) -> Template | Redirect:
    form = await read_form(request)
    try:
        current = field(form, "current_password")
        new = field(form, "new_password")
        if new != field(form, "new_password_confirm"):
            raise FormError("The two new passwords do not match.")
        await users.change_own_password(
            db_session, current_user, current=current, new=new, hashing=password_hashing
        )
    except (FormError, users.UserError) as exc:
        return _password_page(current_user, error=str(exc), status_code=400)
    # Whoever else knew the old password is signed out; this browser stays signed in.
    token = request.cookies.get(settings.cookies.session) or ""
    ended = await users.end_sessions(db_session, current_user.id, keep_token_hash=hash_token(token))
    await audit_own_account(
        request, db_session, current_user, "user.password.change", other_sessions_ended=ended
    )
    return Redirect(f"{auth.PASSWORD_PATH}?changed=1", status_code=303)


@get("/sessions", name="clinician:sessions", include_in_schema=False, guards=[auth.require_clinician])
async def sessions_view(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    current_user: NamedDependency[User],
    settings: NamedDependency[Settings],
) -> Template:
    rows = await sessions.list_sessions(db_session, settings, current_user.id)
    current = hash_token(request.cookies.get(settings.cookies.session) or "")
    return page(
        "clinician/account_sessions.html",
        current_user,
        {
            "sessions": [(sessions.public_id(row), row, row.token_hash == current) for row in rows],
            "ended": request.query_params.get("ended", ""),
        },
    )


@post(
    "/sessions/{session_id:str}/end",
    include_in_schema=False,
    status_code=303,
    guards=[auth.require_clinician],
)
async def end_one_session(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    current_user: NamedDependency[User],
    session_id: FromPath[str],
) -> Redirect:
    if len(session_id) > 64 or not await sessions.end_by_public_id(db_session, current_user.id, session_id):
        raise NotFoundException("You have no such session; it may have ended already.")
    await audit_own_account(request, db_session, current_user, "auth.session.end")
    return Redirect(f"{SESSIONS_PATH}?ended=1", status_code=303)


@post("/sessions/end-all", include_in_schema=False, status_code=303, guards=[auth.require_clinician])
async def end_all_sessions(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    current_user: NamedDependency[User],
    settings: NamedDependency[Settings],
) -> Redirect:
    """Sign out everywhere, this browser included."""
    ended = await users.end_sessions(db_session, current_user.id)
    await audit_own_account(request, db_session, current_user, "auth.session.end_all", sessions_ended=ended)
    return Redirect(
        f"{auth.SIGN_IN_PATH}?signed_out=1", status_code=303, cookies=[auth.expired_session_cookie(settings)]
    )


account_router = Router(
    path="/account",
    route_handlers=[
        password_form,
        change_password,
        sessions_view,
        end_one_session,
        end_all_sessions,
        *account_mfa.routes,
    ],
    guards=[auth.require_signed_in],
)

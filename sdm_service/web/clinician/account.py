"""The signed-in person's own account: change the password, see and end one's sessions.

The password page is reachable while a password change is required (require_signed_in); the
sessions pages are not (require_clinician). Policy lives in services/users.py and sessions.py.
"""

from __future__ import annotations

from litestar import Router, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Template

from sdm_service.security import PasswordHashing, hash_token
from sdm_service.services import passwords, sessions, users
from sdm_service.web import auth
from sdm_service.web.clinician import account_mfa
from sdm_service.web.clinician.common import ClinicianCall, FormError, field

SESSIONS_PATH = "/clinician/account/sessions"


def _password_page(
    call: ClinicianCall, *, error: str | None = None, status_code: int = 200, changed: bool = False
) -> Template:
    return call.page(
        "clinician/account_password.html",
        {"error": error, "changed": changed, "min_password": passwords.MIN_PASSWORD_LENGTH},
        status_code=status_code,
    )


def _this_browsers_token_hash(call: ClinicianCall) -> str:
    return hash_token(call.request.cookies.get(call.settings.cookies.session) or "")


@get("/password", name="clinician:password", include_in_schema=False)
async def password_form(call: NamedDependency[ClinicianCall]) -> Template:
    return _password_page(call, changed=call.query("changed") == "1")


@post("/password", include_in_schema=False, status_code=303)
async def change_password(
    call: NamedDependency[ClinicianCall], password_hashing: NamedDependency[PasswordHashing]
) -> Template | Redirect:
    form = await call.form()
    try:
        current = field(form, "current_password")
        new = field(form, "new_password")
        if new != field(form, "new_password_confirm"):
            raise FormError("The two new passwords do not match.")
        await users.change_own_password(
            call.db_session, call.current_user, current=current, new=new, hashing=password_hashing
        )
    except (FormError, users.UserError) as exc:
        return _password_page(call, error=str(exc), status_code=400)
    # Whoever else knew the old password is signed out; this browser stays signed in.
    ended = await users.end_sessions(
        call.db_session, call.current_user.id, keep_token_hash=_this_browsers_token_hash(call)
    )
    await call.audit_own_account("user.password.change", other_sessions_ended=ended)
    return Redirect(f"{auth.PASSWORD_PATH}?changed=1", status_code=303)


@get("/sessions", name="clinician:sessions", include_in_schema=False, guards=[auth.require_clinician])
async def sessions_view(call: NamedDependency[ClinicianCall]) -> Template:
    rows = await sessions.list_sessions(call.db_session, call.settings, call.current_user.id)
    current = _this_browsers_token_hash(call)
    return call.page(
        "clinician/account_sessions.html",
        {
            "sessions": [(sessions.public_id(row), row, row.token_hash == current) for row in rows],
            "ended": call.query("ended"),
        },
    )


@post(
    "/sessions/{session_id:str}/end",
    include_in_schema=False,
    status_code=303,
    guards=[auth.require_clinician],
)
async def end_one_session(call: NamedDependency[ClinicianCall], session_id: FromPath[str]) -> Redirect:
    ended = len(session_id) <= 64 and await sessions.end_by_public_id(
        call.db_session, call.current_user.id, session_id
    )
    if not ended:
        raise NotFoundException("You have no such session; it may have ended already.")
    await call.audit_own_account("auth.session.end")
    return Redirect(f"{SESSIONS_PATH}?ended=1", status_code=303)


@post("/sessions/end-all", include_in_schema=False, status_code=303, guards=[auth.require_clinician])
async def end_all_sessions(call: NamedDependency[ClinicianCall]) -> Redirect:
    """Sign out everywhere, this browser included."""
    ended = await users.end_sessions(call.db_session, call.current_user.id)
    await call.audit_own_account("auth.session.end_all", sessions_ended=ended)
    return Redirect(
        f"{auth.SIGN_IN_PATH}?signed_out=1",
        status_code=303,
        cookies=[auth.expired_session_cookie(call.settings)],
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

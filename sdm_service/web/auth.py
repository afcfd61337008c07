"""Clinician sign-in sessions and the guards that protect every clinician page.

The browser holds a random token in the `sdm_session` cookie (HttpOnly, SameSite=Lax, Secure
outside development, sent only under /clinician; `__Host-sdm_session` for path / in production,
see settings.cookies); services/sessions.py stores and checks it.

Other route modules reuse the guards: `guards=[require_admin]` on a handler under /clinician
(the cookie is only sent there) and `current_user: User` via `provide_current_user`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.di import Provide
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.audit import Actor, record
from sdm_service.middleware import request_ip
from sdm_service.models import Role, User
from sdm_service.paths import CLINICIAN_PREFIX
from sdm_service.security import CLINICIAN_STATE_KEY
from sdm_service.services import mfa, sessions
from sdm_service.settings import Settings
from sdm_service.web.errors import error_page

COOKIE_PATH = CLINICIAN_PREFIX  # a __Host- cookie (production) must have path /
SIGN_IN_PATH = f"{CLINICIAN_PREFIX}/sign-in"
HOME_PATH = CLINICIAN_PREFIX
PASSWORD_PATH = f"{CLINICIAN_PREFIX}/account/password"
MFA_ENROL_PATH = f"{CLINICIAN_PREFIX}/account/mfa"
_MISSING = object()
_PROVIDER_MFA_KEY = "sdm_provider_mfa"  # this session's identity provider checked a second factor


class SignInRequired(NotAuthorizedException):
    """No valid clinician session: pages redirect to sign-in, other requests get 401."""

    detail = "Sign in to use the clinician workspace."


def actor_for(user: User) -> Actor:
    return Actor("clinician", str(user.id), user.username)


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: only a path inside the workspace, never another site."""
    if not target or len(target) > 2000:
        return HOME_PATH
    if any(ord(ch) < 32 for ch in target) or "\\" in target:
        return HOME_PATH
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return HOME_PATH
    if parts.path != HOME_PATH and not parts.path.startswith(HOME_PATH + "/"):
        return HOME_PATH
    if parts.path.startswith(SIGN_IN_PATH):
        return HOME_PATH
    return target


def _cookie_path(settings: Settings) -> str:
    return "/" if settings.cookies.host_only else COOKIE_PATH


def workspace_cookie(
    settings: Settings, key: str, value: str, *, max_age: int, expires: int | None = None
) -> Cookie:
    """A cookie of the clinician workspace: HTTP-only, Lax, secure where the settings say, on the
    workspace path (or the whole host under the __Host- prefix)."""
    return Cookie(
        key=key,
        value=value,
        path=_cookie_path(settings),
        max_age=max_age,
        expires=expires,
        httponly=True,
        secure=settings.secure_cookies,
        samesite="lax",
    )


def session_cookie(settings: Settings, token: str) -> Cookie:
    return workspace_cookie(
        settings, settings.cookies.session, token, max_age=settings.clinician_session_minutes * 60
    )


def expired_session_cookie(settings: Settings) -> Cookie:
    return workspace_cookie(settings, settings.cookies.session, "", max_age=0, expires=0)


async def start_session(
    db_session: AsyncSession,
    settings: Settings,
    user: User,
    request: Request[Any, Any, Any],
    *,
    provider_mfa: bool = False,
) -> str:
    """A new session for a user who just proved who they are; returns the cookie token."""
    return await sessions.start_session(
        db_session,
        settings,
        user,
        ip=request_ip(request),
        user_agent=request.headers.get("user-agent") or "",
        provider_mfa=provider_mfa,
    )


async def sign_in(
    db_session: AsyncSession,
    settings: Settings,
    user: User,
    request: Request[Any, Any, Any],
    *,
    ip: str,
    detail: dict[str, Any] | None,
    provider_mfa: bool = False,
) -> str:
    """The last step of every way of signing in: a fresh token (a cookie planted before sign-in is
    worth nothing after it), and the audited sign-in. Returns the cookie token."""
    await sessions.end_session(db_session, request.cookies.get(settings.cookies.session))
    token = await start_session(db_session, settings, user, request, provider_mfa=provider_mfa)
    await record(
        db_session,
        actor_for(user),
        "auth.sign_in",
        entity_type="user",
        entity_id=str(user.id),
        ip=ip,
        detail=detail,
    )
    return token


async def current_user_or_none(connection: ASGIConnection[Any, Any, Any, Any]) -> User | None:
    """Look the session up once per request and remember the answer."""
    cached = connection.state.get(CLINICIAN_STATE_KEY, _MISSING)
    if cached is not _MISSING:
        return cached
    state = connection.app.state
    found = await sessions.load_session(
        state.side_engine, state.settings, connection.cookies.get(state.settings.cookies.session)
    )
    user = found[0] if found else None
    connection.state[CLINICIAN_STATE_KEY] = user
    connection.state[_PROVIDER_MFA_KEY] = bool(found and found[1].provider_mfa)
    return user


class PasswordChangeRequired(PermissionDeniedException):
    """An administrator set this account's password: the person must choose their own first."""

    detail = "Choose a new password before you continue."


class MfaEnrolmentRequired(PermissionDeniedException):
    """This account must set up a second factor (administrators; everyone with
    SDM_MFA_REQUIRED_FOR_ALL) before it opens the workspace."""

    detail = "Set up two-step sign-in before you continue."


async def require_signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: a signed-in, active account, even one that must still change its password (the
    password page itself)."""
    if await current_user_or_none(connection) is None:
        raise SignInRequired()


async def require_clinician(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """Guard: a signed-in, active clinician or admin whose password is their own."""
    await require_signed_in(connection, handler)
    user = await current_user_or_none(connection)
    if user is not None and user.must_change_password:
        raise PasswordChangeRequired()
    if (
        user is not None
        and mfa.required_for(user, connection.app.state.settings)
        and not mfa.enabled(user)
        and not connection.state.get(_PROVIDER_MFA_KEY, False)
    ):
        raise MfaEnrolmentRequired()


async def require_admin(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Guard: a signed-in, active admin. Clinicians get 403."""
    await require_clinician(connection, handler)
    user = await current_user_or_none(connection)
    if user is None or user.role != Role.ADMIN:
        raise PermissionDeniedException("Only administrators can open this page.")


async def provide_current_user(request: Request[Any, Any, Any]) -> User:
    """Dependency `current_user`: the signed-in user (handlers behind require_clinician)."""
    user = await current_user_or_none(request)
    if user is None:
        raise SignInRequired()
    return user


current_user_dependency = Provide(provide_current_user)


def _sign_in_required(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    if request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        next_path = safe_next(target)
        location = SIGN_IN_PATH if next_path == HOME_PATH else f"{SIGN_IN_PATH}?next={quote(next_path)}"
        redirect = Redirect(location, status_code=303)
        redirect.headers["Cache-Control"] = "no-store"
        return redirect
    return error_page(
        request,
        401,
        "You are not signed in, or your session has ended. Sign in again at /clinician/sign-in, "
        "then repeat what you were doing.",
    )


def _go_to_first(path: str, what: str) -> Callable[[Request[Any, Any, Any], Exception], Response[Any]]:
    """The answer to a request that must wait until the person has done `what` at `path`: pages
    redirect there, anything else is refused with a page saying so."""

    def handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        if request.method in ("GET", "HEAD"):
            redirect = Redirect(path, status_code=303)
            redirect.headers["Cache-Control"] = "no-store"
            return redirect
        return error_page(request, 403, f"{what} first, at {path}, then repeat what you were doing.")

    return handler


# Attach to routers whose handlers use the guards, so pages redirect to the sign-in form.
exception_handlers: dict[type[Exception] | int, Any] = {
    SignInRequired: _sign_in_required,
    PasswordChangeRequired: _go_to_first(PASSWORD_PATH, "Choose a new password"),
    MfaEnrolmentRequired: _go_to_first(MFA_ENROL_PATH, "Set up two-step sign-in"),
}

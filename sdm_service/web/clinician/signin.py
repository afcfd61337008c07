"""Sign-in and sign-out pages. The policy (throttling, checks, audit of refusals) is in
services/signin.py; these handlers parse the form, call it and render the outcome."""

from __future__ import annotations

import math
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.ratelimit import RateLimitStore
from sdm_service.security import PasswordHashing
from sdm_service.services import mfa as mfa_service
from sdm_service.services import sessions, signin
from sdm_service.services.oidc import OidcProvider
from sdm_service.settings import Settings
from sdm_service.web import auth
from sdm_service.web.clinician.common import ClinicianCall, FormError, field
from sdm_service.web.clinician.signin_steps import SignInAttempt, sign_in_page

LOCAL_LOGIN_OFF = "Passwords are not used here. Sign in with your organisation's account."
BAD_CREDENTIALS = "That username and password do not match an active account. Check them and try again."


@get("/sign-in", name="clinician:sign-in", include_in_schema=False)
async def sign_in_form(
    request: Request[Any, Any, Any], next: FromQuery[str | None] = None
) -> Template | Redirect:
    next_path = auth.safe_next(next)
    if await auth.current_user_or_none(request) is not None:
        return Redirect(next_path, status_code=303)
    signed_out = request.query_params.get("signed_out") == "1"
    return sign_in_page(next_path, signed_out=signed_out)


@post("/sign-in", include_in_schema=False, status_code=303)
async def sign_in(
    attempt: NamedDependency[SignInAttempt],
    rate_limits: NamedDependency[RateLimitStore],
    password_hashing: NamedDependency[PasswordHashing],
) -> Template | Redirect:
    settings = attempt.settings
    if not settings.local_login:
        return sign_in_page(auth.HOME_PATH, error=LOCAL_LOGIN_OFF, status_code=403)
    form = await attempt.form()
    try:
        username = signin.clean_username(field(form, "username"))
        password = field(form, "password")
        next_path = auth.safe_next(field(form, "next"))
    except FormError as exc:
        return sign_in_page(auth.HOME_PATH, error=str(exc), status_code=400)
    outcome = await signin.sign_in(
        attempt.db_session,
        attempt.side_engine,
        rate_limits,
        username=username,
        password=password,
        ip=attempt.ip,
        hashing=password_hashing,
        slowdown_seconds=settings.signin_slowdown_seconds,
    )
    if isinstance(outcome, signin.Throttled):
        wait = outcome.retry_after
        minutes = max(1, math.ceil(wait / 60))
        message = (
            "There have been too many failed sign-in attempts. For your security, sign-in is paused. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )
        return sign_in_page(
            next_path, username=username, error=message, status_code=429, headers={"Retry-After": str(wait)}
        )
    if isinstance(outcome, signin.Incomplete):
        return sign_in_page(
            next_path, username=username, error="Enter your username and password.", status_code=400
        )
    if isinstance(outcome, signin.BadCredentials):
        return sign_in_page(next_path, username=username, error=BAD_CREDENTIALS, status_code=401)
    if mfa_service.enabled(outcome.user):
        # The password was right; the session starts after the second factor.
        return attempt.ask_second_factor(outcome.user, next_path)
    return await attempt.finish(
        outcome.user, next_path, detail={"while_locked": True} if outcome.slowed else None
    )


@post("/sign-out", include_in_schema=False, status_code=303)
async def sign_out(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    oidc: NamedDependency[OidcProvider | None],
) -> Redirect:
    user = await auth.current_user_or_none(request)
    await sessions.end_session(db_session, request.cookies.get(settings.cookies.session))
    target = f"{auth.SIGN_IN_PATH}?signed_out=1"
    if user is not None:
        # An account of the identity provider signs out there too, when the provider offers it.
        if oidc is not None and user.oidc_subject is not None:
            target = await oidc.end_session_url() or target
        await ClinicianCall(request, db_session, settings, user).audit_own_account("auth.sign_out")
    return Redirect(
        target,
        status_code=303,
        cookies=[auth.expired_session_cookie(settings)],
    )


routes = [sign_in_form, sign_in, sign_out]

"""The second sign-in step for accounts with TOTP: a code from the app, or a recovery code.

The password step (signin.py) leaves only a short-lived signed cookie naming the account; the
session starts here. Wrong codes are limited per account (MFA_LIMIT) and audited.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service import ratelimit
from sdm_service.audit import Actor, record_now
from sdm_service.models import User
from sdm_service.ratelimit import RateLimitStore
from sdm_service.services import mfa, users
from sdm_service.settings import Settings
from sdm_service.web import auth
from sdm_service.web.clinician.common import FormError, field, page
from sdm_service.web.clinician.signin_steps import SignInAttempt, pending_cookie, sign_in_page

MFA_LIMIT = ratelimit.Limit(bucket="signin-mfa", max_hits=5, window_seconds=15 * 60)
EXPIRED = "Your sign-in took too long or was not started here. Sign in again with your password."


def _form(
    next_path: str, *, error: str | None = None, status_code: int = 200, headers: dict[str, str] | None = None
) -> Template:
    return page(
        "clinician/sign_in_mfa.html",
        None,
        {"next": next_path, "error": error},
        status_code=status_code,
        headers=headers,
    )


async def _pending_user(
    request: Request[Any, Any, Any], db_session: AsyncSession, settings: Settings
) -> User | None:
    user_id = mfa.read_pending(settings, request.cookies.get(settings.cookies.mfa_pending))
    if user_id is None:
        return None
    try:
        user = await users.get_user(db_session, uuid.UUID(user_id))
    except ValueError:
        return None
    return user if user is not None and user.is_active and mfa.enabled(user) else None


@get("/sign-in/mfa", name="clinician:sign-in-mfa", include_in_schema=False)
async def mfa_form(
    attempt: NamedDependency[SignInAttempt], next: FromQuery[str | None] = None
) -> Template | Redirect:
    if await _pending_user(attempt.request, attempt.db_session, attempt.settings) is None:
        return Redirect(auth.SIGN_IN_PATH, status_code=303)
    return _form(auth.safe_next(next))


@post("/sign-in/mfa", include_in_schema=False, status_code=303)
async def mfa_submit(
    attempt: NamedDependency[SignInAttempt], rate_limits: NamedDependency[RateLimitStore]
) -> Template | Redirect:
    db_session, settings = attempt.db_session, attempt.settings
    form = await attempt.form()
    try:
        code = field(form, "code").strip()
        recovery = field(form, "recovery_code").strip()
        next_path = auth.safe_next(field(form, "next"))
    except FormError as exc:
        return _form(auth.HOME_PATH, error=str(exc), status_code=400)
    user = await _pending_user(attempt.request, db_session, settings)
    if user is None:
        return sign_in_page(next_path, error=EXPIRED, status_code=401)
    if not code and not recovery:
        return _form(
            next_path, error="Enter the 6-digit code from your app, or a recovery code.", status_code=400
        )
    wait = await ratelimit.admit(rate_limits, MFA_LIMIT, str(user.id))
    if wait is not None:
        message = "Too many wrong codes. For your security, wait a few minutes and sign in again."
        return _form(next_path, error=message, status_code=429, headers={"Retry-After": str(wait)})
    factor = "totp" if code else "recovery_code"
    ok = await (
        mfa.verify_code(db_session, settings, user, code)
        if code
        else mfa.use_recovery_code(db_session, user, recovery)
    )
    if not ok:
        user_id, username = str(user.id), user.username  # the rollback below expires the row
        # The refused UPDATE began a write: end it before the audit writes on its own connection
        # (SQLite has one writer), as the request's own rollback would.
        await db_session.rollback()
        await record_now(
            attempt.side_engine,
            Actor("anonymous", user_id, username),
            "auth.mfa.failed",
            entity_type="user",
            entity_id=user_id,
            ip=attempt.ip,
            detail={"factor": factor},
        )
        error = (
            "That code is not right, or was used already. Enter the current code from your app."
            if code
            else "That recovery code is not right, or was used already."
        )
        return _form(next_path, error=error, status_code=401)
    # The code (or recovery code) is spent whatever happens next; commit that before the counter
    # is cleared on its own connection (SQLite has one writer).
    await db_session.commit()
    await ratelimit.clear(rate_limits, MFA_LIMIT, str(user.id))
    return await attempt.finish(
        user, next_path, detail={"second_factor": factor}, cookies=[pending_cookie(settings, "", max_age=0)]
    )


routes = [mfa_form, mfa_submit]

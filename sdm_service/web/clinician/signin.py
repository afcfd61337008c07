"""Sign-in and sign-out.

Failed attempts are throttled per account and per address, counted in the shared rate-limit store
so every worker sees them. Each attempt is counted when it is admitted, before the password is
checked (one count-unless-over step per limit), so concurrent attempts cannot slip past together;
a successful sign-in then clears the account's count and gives the address its hit back. The same
message answers an unknown username, a wrong password and a deactivated account, so the form
never reveals which accounts exist.
"""

from __future__ import annotations

import math
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from sdm_service import ratelimit
from sdm_service.audit import Actor, record, record_now, record_refusal
from sdm_service.services import users
from sdm_service.settings import Settings
from sdm_service.web import auth
from sdm_service.web.clinician.common import FormError, audit, client_ip, field, page, read_form

ACCOUNT_LIMIT = ratelimit.Limit(bucket="signin-user", max_hits=5, window_seconds=15 * 60)
ADDRESS_LIMIT = ratelimit.Limit(bucket="signin-ip", max_hits=20, window_seconds=15 * 60)
BAD_CREDENTIALS = "That username and password do not match an active account. Check them and try again."


def _form(
    next_path: str,
    *,
    username: str = "",
    error: str | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    signed_out: bool = False,
) -> Template:
    return page(
        "clinician/sign_in.html",
        None,
        {"next": next_path, "username": username, "error": error, "signed_out": signed_out},
        status_code=status_code,
        headers=headers,
    )


async def _throttled_for(engine: AsyncEngine, username: str, ip: str) -> int:
    """Seconds the account or the address must wait (0 when neither is over); counts nothing."""
    return max(
        await ratelimit.retry_after(engine, ACCOUNT_LIMIT, username) or 0,
        await ratelimit.retry_after(engine, ADDRESS_LIMIT, ip) or 0,
    )


async def _admit(engine: AsyncEngine, username: str, ip: str) -> int:
    """Count this attempt against the account and the address before the password is checked, each
    in one count-unless-over step, so a burst of concurrent attempts cannot all pass a check made
    before any of them is counted. An attempt refused by either limit counts against neither (it
    was never evaluated). Returns the seconds to wait, or 0 when the attempt may go ahead."""
    account_wait = await ratelimit.admit(engine, ACCOUNT_LIMIT, username)
    if account_wait is not None:
        return max(account_wait, await ratelimit.retry_after(engine, ADDRESS_LIMIT, ip) or 0)
    address_wait = await ratelimit.admit(engine, ADDRESS_LIMIT, ip)
    if address_wait is not None:
        await ratelimit.take_back(engine, ACCOUNT_LIMIT, username)
        return max(address_wait, await ratelimit.retry_after(engine, ACCOUNT_LIMIT, username) or 0)
    return 0


@get("/sign-in", name="clinician:sign-in", include_in_schema=False)
async def sign_in_form(
    request: Request[Any, Any, Any], next: FromQuery[str | None] = None
) -> Template | Redirect:
    next_path = auth.safe_next(next)
    if await auth.current_user_or_none(request) is not None:
        return Redirect(next_path, status_code=303)
    signed_out = request.query_params.get("signed_out") == "1"
    return _form(next_path, signed_out=signed_out)


@post("/sign-in", include_in_schema=False, status_code=303)
async def sign_in(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
) -> Template | Redirect:
    form = await read_form(request)
    try:
        username = users.normalise_username(field(form, "username"))[:200]
        password = field(form, "password")
        next_path = auth.safe_next(field(form, "next"))
    except FormError as exc:
        return _form(auth.HOME_PATH, error=str(exc), status_code=400)
    ip = client_ip(request)
    engine = request.app.state.db_engine

    if not username or not password:
        # Not an attempt on any account, so not counted; a throttled client still hears it waits.
        wait = await _throttled_for(engine, username, ip)
    else:
        wait = await _admit(engine, username, ip)
    if wait:
        # Counted per address and written at the 1st, 10th, 100th... refusal: a flood of throttled
        # attempts cannot bury other events.
        await record_refusal(
            engine,
            Actor("anonymous", "", username),
            "auth.sign_in.throttled",
            key=ip,
            entity_type="user",
            ip=ip,
            detail={"username": username, "retry_after": wait},
        )
        minutes = max(1, math.ceil(wait / 60))
        message = (
            "There have been too many failed sign-in attempts. For your security, sign-in is paused. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
        )
        return _form(
            next_path, username=username, error=message, status_code=429, headers={"Retry-After": str(wait)}
        )

    if not username or not password:
        return _form(next_path, username=username, error="Enter your username and password.", status_code=400)

    user = await users.authenticate(db_session, username, password)
    if user is None:
        # Already counted against the account and the address when admitted.
        await record_now(
            engine,
            Actor("anonymous", "", username),
            "auth.sign_in.failed",
            entity_type="user",
            ip=ip,
            detail={"username": username},
        )
        return _form(next_path, username=username, error=BAD_CREDENTIALS, status_code=401)

    await ratelimit.clear(engine, ACCOUNT_LIMIT, username)
    # Only failures count against the address: colleagues behind one address sign in all day.
    await ratelimit.take_back(engine, ADDRESS_LIMIT, ip)
    # A fresh token at every sign-in: a cookie planted before sign-in is worth nothing after it.
    await auth.end_session(db_session, request.cookies.get(settings.cookies.session))
    token = await auth.start_session(db_session, settings, user, request)
    await record(
        db_session, auth.actor_for(user), "auth.sign_in", entity_type="user", entity_id=str(user.id), ip=ip
    )
    return Redirect(next_path, status_code=303, cookies=[auth.session_cookie(settings, token)])


@post("/sign-out", include_in_schema=False, status_code=303)
async def sign_out(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
) -> Redirect:
    user = await auth.current_user_or_none(request)
    await auth.end_session(db_session, request.cookies.get(settings.cookies.session))
    if user is not None:
        await audit(request, db_session, user, "auth.sign_out", entity_type="user", entity_id=str(user.id))
    return Redirect(
        f"{auth.SIGN_IN_PATH}?signed_out=1",
        status_code=303,
        cookies=[auth.expired_session_cookie(settings)],
    )


routes = [sign_in_form, sign_in, sign_out]

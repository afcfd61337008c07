"""Sign-in through the organisation's identity provider (OpenID Connect). The protocol is in
services/oidc.py, the account rules in services/oidc_accounts.py; these handlers redirect, check
the callback against the browser's state cookie, and start the session."""

from __future__ import annotations

import logging
from typing import Any

from litestar import get
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncEngine

from sdm_service.audit import Actor, record_now
from sdm_service.services import mfa as mfa_service
from sdm_service.services import oidc_accounts
from sdm_service.services.oidc import PENDING_SECONDS, OidcError, OidcProvider
from sdm_service.settings import Settings
from sdm_service.web import auth
from sdm_service.web.clinician.signin_steps import SignInAttempt, sign_in_page

logger = logging.getLogger(__name__)

UNREACHABLE = "Your organisation's sign-in service could not be reached. Try again in a few minutes."
FAILED = "Signing in with your organisation did not work. Start again from this page."
REFUSALS = {
    "no_role": "Your organisation's account does not give you access to this workspace. "
    "Ask your administrator to give you the clinician role.",
    "deactivated": "This account has been deactivated here. Ask your administrator.",
    "username_taken": "An account with your username already exists here. Ask your administrator to link it.",
    "bad_username": "Your organisation's account has no username this workspace can use. "
    "Ask your administrator.",
}


def _state_cookie(settings: Settings, value: str, *, max_age: int = PENDING_SECONDS) -> Cookie:
    # SameSite=Lax: the provider's redirect back is a top-level GET, which carries it.
    return auth.workspace_cookie(settings, settings.cookies.oidc_state, value, max_age=max_age)


def _refused(settings: Settings, message: str, status_code: int) -> Template:
    template = sign_in_page(auth.HOME_PATH, error=message, status_code=status_code)
    template.cookies.append(_state_cookie(settings, "", max_age=0))
    return template


def _provider(oidc: OidcProvider | None) -> OidcProvider:
    if oidc is None:
        raise NotFoundException("Sign-in with an identity provider is not set up here.")
    return oidc


@get("/sign-in/oidc", name="clinician:sign-in-oidc", include_in_schema=False)
async def oidc_start(
    oidc: NamedDependency[OidcProvider | None],
    settings: NamedDependency[Settings],
    side_engine: NamedDependency[AsyncEngine],
    next: FromQuery[str | None] = None,
    login_hint: FromQuery[str | None] = None,
) -> Redirect | Template:
    provider = _provider(oidc)
    try:
        url, state = await provider.begin(
            side_engine, next_path=auth.safe_next(next), login_hint=login_hint or ""
        )
    except OidcError as exc:
        logger.warning("OpenID Connect sign-in could not start: %s", exc)
        return _refused(settings, UNREACHABLE, 503)
    redirect = Redirect(url, status_code=303, cookies=[_state_cookie(settings, state)])
    redirect.headers["Cache-Control"] = "no-store"
    return redirect


async def _refuse(attempt: SignInAttempt, reason: str, **detail: Any) -> Template:
    actor = Actor("anonymous", str(detail.pop("user_id", "")), str(detail.pop("username", "")))
    await record_now(
        attempt.side_engine,
        actor,
        "auth.oidc.refused",
        entity_type="user",
        entity_id=actor.id,
        ip=attempt.ip,
        detail={"reason": reason, **detail},
    )
    message = REFUSALS.get(reason, FAILED)
    return _refused(attempt.settings, message, 403 if reason in REFUSALS else 400)


@get("/oidc/callback", name="clinician:oidc-callback", include_in_schema=False)
async def oidc_callback(
    attempt: NamedDependency[SignInAttempt], oidc: NamedDependency[OidcProvider | None]
) -> Redirect | Template:
    provider = _provider(oidc)
    request, db_session, settings = attempt.request, attempt.db_session, attempt.settings
    # Read from the query directly: Litestar reserves the parameter name `state`.
    query = request.query_params
    state, code, error = query.get("state") or "", query.get("code") or "", query.get("error") or ""
    # The state must be the one this browser was sent with (no sign-in planted from elsewhere) and
    # still pending: taken (deleted) here on its own commit, so a replay finds nothing.
    if not state or request.cookies.get(settings.cookies.oidc_state) != state:
        return await _refuse(attempt, "state_mismatch")
    next_path = await provider.take_state(attempt.side_engine, state)
    if next_path is None:
        return await _refuse(attempt, "state_unknown_or_used")
    if error or not code:
        return await _refuse(attempt, "provider_error", error=(error or "no code")[:200])
    try:
        claims = await provider.finish(state, code)
    except OidcError as exc:
        logger.warning("OpenID Connect sign-in failed: %s", exc)
        return await _refuse(attempt, "token_rejected", problem=str(exc)[:300])
    outcome = await oidc_accounts.sign_in(db_session, settings, claims, ip=attempt.ip)
    if isinstance(outcome, oidc_accounts.Refused):
        user_id, username = (str(outcome.user.id), outcome.user.username) if outcome.user else ("", "")
        # A deactivation stands although this answer is a refusal (which rolls back).
        await db_session.commit()
        return await _refuse(attempt, outcome.reason, user_id=user_id, username=username, sub=claims["sub"])
    user = outcome.user
    provider_mfa = oidc_accounts.provider_did_mfa(claims.get("amr"))
    clear_state = _state_cookie(settings, "", max_age=0)
    if mfa_service.enabled(user) and not provider_mfa:
        # The account has its own second factor and the provider did not check one: ask for it.
        await db_session.commit()
        return attempt.ask_second_factor(user, next_path, [clear_state])
    detail = {"method": "oidc", "provider_mfa": provider_mfa}
    return await attempt.finish(
        user, next_path, detail=detail, provider_mfa=provider_mfa, cookies=[clear_state]
    )


routes = [oidc_start, oidc_callback]

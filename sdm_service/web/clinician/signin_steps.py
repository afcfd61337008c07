"""What the ways of signing in share (password, second factor, identity provider): the sign-in page,
the `attempt` dependency, the hand-off to the second factor and the finish that starts the session."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from litestar.datastructures import Cookie
from litestar.di import NamedDependency, Provide
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncEngine

from sdm_service.calls import RequestCall
from sdm_service.models import User
from sdm_service.services import mfa
from sdm_service.settings import Settings
from sdm_service.web import auth
from sdm_service.web.clinician.common import page

MFA_PATH = f"{auth.SIGN_IN_PATH}/mfa"


def pending_cookie(settings: Settings, value: str, *, max_age: int = mfa.PENDING_SECONDS) -> Cookie:
    """The short-lived signed cookie naming the account between the password and the second factor."""
    return auth.workspace_cookie(settings, settings.cookies.mfa_pending, value, max_age=max_age)


def sign_in_page(
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


@dataclass(frozen=True)
class SignInAttempt(RequestCall):
    """What every step of signing in works with (dependency `attempt`); nobody is signed in yet."""

    side_engine: NamedDependency[AsyncEngine]

    def ask_second_factor(self, user: User, next_path: str, cookies: Sequence[Cookie] = ()) -> Redirect:
        """The account has its own second factor: ask for it (signin_mfa.py), where the session starts."""
        location = f"{MFA_PATH}?next={quote(next_path)}" if next_path != auth.HOME_PATH else MFA_PATH
        pending = pending_cookie(self.settings, mfa.pending_token(self.settings, user))
        return Redirect(location, status_code=303, cookies=[pending, *cookies])

    async def finish(
        self,
        user: User,
        next_path: str,
        *,
        detail: dict[str, Any] | None,
        provider_mfa: bool = False,
        cookies: Sequence[Cookie] = (),
    ) -> Redirect:
        """Start the session (auth.sign_in: fresh token, audited) and go on to `next_path`, or first
        to the password page when the password is one an administrator set."""
        token = await auth.sign_in(
            self.db_session,
            self.settings,
            user,
            self.request,
            ip=self.ip,
            detail=detail,
            provider_mfa=provider_mfa,
        )
        target = auth.PASSWORD_PATH if user.must_change_password else next_path
        return Redirect(
            target, status_code=303, cookies=[auth.session_cookie(self.settings, token), *cookies]
        )


ATTEMPT_DEPENDENCY = {"attempt": Provide(SignInAttempt, sync_to_thread=False)}

"""Setting up one's TOTP second factor: a QR code (inline SVG) and the same key as text, confirmed
with a code from the app; recovery codes are shown once. Reachable while enrolment is required."""

from __future__ import annotations

from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.models import User
from sdm_service.services import mfa
from sdm_service.settings import Settings
from sdm_service.web.clinician.common import FormError, audit_own_account, field, page, read_form


async def _enrol_page(
    db_session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    error: str | None = None,
    status_code: int = 200,
) -> Template:
    context: dict[str, Any] = {
        "enabled": mfa.enabled(user),
        "required": mfa.required_for(user, settings),
        "error": error,
        "recovery_codes": None,
    }
    if not mfa.enabled(user):
        secret = await mfa.pending_secret(db_session, settings, user)
        context["qr_svg"] = mfa.qr_svg(mfa.provisioning_uri(settings, secret, user.username))
        context["secret_grouped"] = mfa.grouped(secret)
    return page("clinician/account_mfa.html", user, context, status_code=status_code)


@get("/mfa", name="clinician:mfa", include_in_schema=False)
async def mfa_view(
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    current_user: NamedDependency[User],
) -> Template:
    return await _enrol_page(db_session, settings, current_user)


@post("/mfa", include_in_schema=False, status_code=200)
async def mfa_enable(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    settings: NamedDependency[Settings],
    current_user: NamedDependency[User],
) -> Template:
    form = await read_form(request)
    try:
        code = field(form, "code")
    except FormError as exc:
        return await _enrol_page(db_session, settings, current_user, error=str(exc), status_code=400)
    if mfa.enabled(current_user):
        return await _enrol_page(db_session, settings, current_user)
    codes = await mfa.enable(db_session, settings, current_user, code)
    if codes is None:
        error = "That code does not match. Check the time on your phone and enter the code the app shows now."
        return await _enrol_page(db_session, settings, current_user, error=error, status_code=400)
    await audit_own_account(request, db_session, current_user, "user.mfa.enable")
    return page(
        "clinician/account_mfa.html",
        current_user,
        {"enabled": True, "required": True, "error": None, "recovery_codes": codes},
    )


routes = [mfa_view, mfa_enable]

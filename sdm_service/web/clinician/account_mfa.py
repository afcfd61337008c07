"""Setting up one's TOTP second factor: a QR code (inline SVG) and the same key as text, confirmed
with a code from the app; recovery codes are shown once. Reachable while enrolment is required."""

from __future__ import annotations

from typing import Any

from litestar import get, post
from litestar.di import NamedDependency
from litestar.response import Template

from sdm_service.services import mfa
from sdm_service.web.clinician.common import ClinicianCall, FormError, field


async def _enrol_page(call: ClinicianCall, *, error: str | None = None, status_code: int = 200) -> Template:
    user, settings = call.current_user, call.settings
    context: dict[str, Any] = {
        "enabled": mfa.enabled(user),
        "required": mfa.required_for(user, settings),
        "error": error,
        "recovery_codes": None,
    }
    if not mfa.enabled(user):
        secret = await mfa.pending_secret(call.db_session, settings, user)
        context["qr_svg"] = mfa.qr_svg(mfa.provisioning_uri(settings, secret, user.username))
        context["secret_grouped"] = mfa.grouped(secret)
    return call.page("clinician/account_mfa.html", context, status_code=status_code)


@get("/mfa", name="clinician:mfa", include_in_schema=False)
async def mfa_view(call: NamedDependency[ClinicianCall]) -> Template:
    return await _enrol_page(call)


@post("/mfa", include_in_schema=False, status_code=200)
async def mfa_enable(call: NamedDependency[ClinicianCall]) -> Template:
    form = await call.form()
    try:
        code = field(form, "code")
    except FormError as exc:
        return await _enrol_page(call, error=str(exc), status_code=400)
    if mfa.enabled(call.current_user):
        return await _enrol_page(call)
    codes = await mfa.enable(call.db_session, call.settings, call.current_user, code)
    if codes is None:
        error = "That code does not match. Check the time on your phone and enter the code the app shows now."
        return await _enrol_page(call, error=error, status_code=400)
    await call.audit_own_account("user.mfa.enable")
    return call.page(
        "clinician/account_mfa.html",
        {"enabled": True, "required": True, "error": None, "recovery_codes": codes},
    )


routes = [mfa_view, mfa_enable]

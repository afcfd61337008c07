"""Helpers shared by the clinician pages: templates, form fields, labels, audit records."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Request
from litestar.datastructures import FormMultiDict
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.audit import record
from sdm_service.content import ContentLibrary
from sdm_service.middleware import request_ip
from sdm_service.models import ResponseStatus, Role, User
from sdm_service.services import users
from sdm_service.web import auth

STATUS_LABELS = {
    ResponseStatus.INVITED: "Invited",
    ResponseStatus.IN_PROGRESS: "In progress",
    ResponseStatus.COMPLETED: "Completed",
    ResponseStatus.REVIEWED: "Reviewed",
}
MAX_FIELD_LENGTH = 10_000


class FormError(ValueError):
    """A form or query value that cannot be used; the message is safe to show."""


def page(
    template: str,
    user: User | None,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    """A clinician page. Never cached: these pages carry patient data."""
    values = {
        "user": user,
        "is_admin": bool(user and user.role == Role.ADMIN),
        "status_labels": STATUS_LABELS,
    }
    values.update(context)
    return Template(
        template_name=template,
        context=values,
        status_code=status_code,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


async def read_form(request: Request[Any, Any, Any]) -> FormMultiDict:
    return await request.form()


def field(form: FormMultiDict | Any, name: str) -> str:
    """One text field; a file upload or an oversized value is refused rather than stored."""
    value = form.get(name, "")
    if not isinstance(value, str):
        raise FormError("This form takes text only.")
    if len(value) > MAX_FIELD_LENGTH:
        raise FormError("A field is longer than this form accepts.")
    return value


def parse_date(value: str, label: str) -> date | None:
    text = value.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FormError(f"{label}: enter a real date, like 2026-12-03.") from None


def parse_page(value: str) -> int:
    text = value.strip()
    if not text:
        return 1
    if not text.isdigit() or len(text) > 6:
        raise FormError("The page number must be a whole number.")
    return max(1, int(text))


def priority_labels(library: ContentLibrary) -> dict[str, str]:
    """Priority code -> label, across every questionnaire."""
    labels: dict[str, str] = {}
    for questionnaire in library.questionnaires():
        for priority in questionnaire.priorities:
            labels.setdefault(priority.code, priority.label)
    return labels


def client_ip(request: Request[Any, Any, Any]) -> str:
    return request_ip(request)


async def audit(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    user: User,
    action: str,
    *,
    entity_type: str,
    entity_id: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Record what a signed-in user did, and from where, in the request's unit of work."""
    await record(
        db_session,
        auth.actor_for(user),
        action,
        entity_type=entity_type,
        entity_id=entity_id,
        ip=client_ip(request),
        detail=detail,
    )


async def audit_account(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    user: User,
    action: str,
    account: User,
    **detail: Any,
) -> None:
    """Record what an administrator did to `account` (named by its username)."""
    await users.record_account_event(
        db_session, auth.actor_for(user), action, account, ip=client_ip(request), **detail
    )


async def audit_own_account(
    request: Request[Any, Any, Any], db_session: AsyncSession, user: User, action: str, **detail: Any
) -> None:
    """Record what a signed-in user did to their own account."""
    await audit(request, db_session, user, action, entity_type="user", entity_id=str(user.id), detail=detail)

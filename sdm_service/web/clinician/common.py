"""What the clinician pages share: the `call` dependency (request, unit of work, signed-in account,
audit records), templates, form fields and labels."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar

from litestar import Router
from litestar.datastructures import FormMultiDict
from litestar.di import NamedDependency, Provide
from litestar.exceptions import NotFoundException
from litestar.response import Template
from sqlmodel import SQLModel

from sdm_service.audit import EventFields, record, record_now
from sdm_service.calls import RequestCall
from sdm_service.content import ContentLibrary
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


def field(form: FormMultiDict | Any, name: str) -> str:
    """One text field; a file upload or an oversized value is refused rather than stored."""
    value = form.get(name, "")
    if not isinstance(value, str):
        raise FormError("This form takes text only.")
    if len(value) > MAX_FIELD_LENGTH:
        raise FormError("A field is longer than this form accepts.")
    return value


def read_fields(form: FormMultiDict | Any, values: dict[str, str]) -> None:
    """Each field named in `values`, stripped, read into it in place: on a FormError the fields read
    so far stay in `values`, for the page that shows the form again."""
    for name in values:
        values[name] = field(form, name).strip()


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


def page_links(page_number: int, pages: int, query_for: Callable[[int], str]) -> dict[str, str | None]:
    """A paged list's `prev_query` and `next_query`: the query strings of the pages either side."""
    return {
        "prev_query": query_for(page_number - 1) if page_number > 1 else None,
        "next_query": query_for(page_number + 1) if page_number < pages else None,
    }


def priority_labels(library: ContentLibrary) -> dict[str, str]:
    """Priority code -> label, across every questionnaire."""
    labels: dict[str, str] = {}
    for questionnaire in library.questionnaires():
        for priority in questionnaire.priorities:
            labels.setdefault(priority.code, priority.label)
    return labels


_Row = TypeVar("_Row", bound=SQLModel)


@dataclass(frozen=True)
class ClinicianCall(RequestCall):
    """What every page of the signed-in workspace works with (dependency `call`): the request, its
    unit of work, the settings and the signed-in account, which names every audit event."""

    current_user: NamedDependency[User]

    def query(self, name: str) -> str:
        return self.request.query_params.get(name, "")

    async def row_or_404(self, model: type[_Row], row_id: uuid.UUID, missing: str) -> _Row:
        """The `model` row with this id (from the path), or 404 saying `missing`."""
        row = await self.db_session.get(model, row_id)
        if row is None:
            raise NotFoundException(missing)
        return row

    def page(self, template: str, context: dict[str, Any], *, status_code: int = 200) -> Template:
        return page(template, self.current_user, context, status_code=status_code)

    async def audit(
        self,
        action: str,
        *,
        entity_type: str,
        entity_id: str = "",
        detail: dict[str, Any] | None = None,
        on_its_own: bool = False,
    ) -> None:
        """Record what the signed-in user did, and from where: in the request's unit of work, or
        `on_its_own` where the request answers with an error and rolls back."""
        actor = auth.actor_for(self.current_user)
        fields: EventFields = {
            "entity_type": entity_type,
            "entity_id": entity_id,
            "ip": self.ip,
            "detail": detail,
        }
        if on_its_own:
            await record_now(self.request.app.state.side_engine, actor, action, **fields)
        else:
            await record(self.db_session, actor, action, **fields)

    async def audit_account(self, action: str, account: User, **detail: Any) -> None:
        """Record what an administrator did to `account` (named by its username)."""
        await users.record_account_event(
            self.db_session, auth.actor_for(self.current_user), action, account, ip=self.ip, **detail
        )

    async def audit_own_account(self, action: str, **detail: Any) -> None:
        """Record what the signed-in user did to their own account."""
        await self.audit(action, entity_type="user", entity_id=str(self.current_user.id), detail=detail)


# The dependencies of the signed-in workspace's routers (the guards make sure someone is signed in).
CALL_DEPENDENCIES = {
    "current_user": auth.current_user_dependency,
    "call": Provide(ClinicianCall, sync_to_thread=False),
}


def admin_pages_router(path: str, route_handlers: list[Any]) -> Router:
    """A router of administrator pages mounted outside /clinician/admin's router: signed-in
    administrators only, anonymous page requests redirected to the sign-in form."""
    return Router(
        path=path,
        route_handlers=route_handlers,
        guards=[auth.require_clinician, auth.require_admin],
        dependencies=CALL_DEPENDENCIES,
        exception_handlers=auth.exception_handlers,
    )

"""Essential-work ceilings: bare Litestar handlers doing only the work each request cannot avoid.

They answer on the service's own paths, with the service's settings (same environment, secret,
database file), so the bench replays the very same request files against both: the ratio
service / essential ceiling is what the service adds beyond its job (issue 21).

- step GET: one indexed read of the response by its token hash, then the service's own step
  template rendered with the same context (the same view functions build it);
- step POST: the same form body parsed (with the CSRF check every form has) and one conditional
  UPDATE (token hash + lock_version), merging the posted answers;
- FHIR QuestionnaireResponse read: the token lookup, the row read, one audit INSERT and the JSON
  of the same resource (the service's own mapping);
- stored summary PDF GET (JSON API): the token lookup, the read of the stored document's row, one
  audit INSERT and the stored bytes sent as the same attachment.

What they leave out is, by construction, what the service does on top: rate limiting, link
expiry checks, the audit hash chain, validation against the questionnaire, middleware.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Router, get, post
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.params import FromPath
from litestar.response import Redirect, Response, Template
from sqlalchemy import bindparam, cast, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from sdm_service.content import ContentLibrary
from sdm_service.content.fhir import questionnaire_to_fhir
from sdm_service.content.logic import enabled_answers, enabled_items
from sdm_service.fhirmap.common import FHIR_JSON
from sdm_service.fhirmap.questionnaire_response import ResponseRecord, to_questionnaire_response
from sdm_service.models import ApiClient, AuditEvent, PatientResponse, SummaryDocument
from sdm_service.security import hash_token
from sdm_service.settings import Settings
from sdm_service.web.patient.flow import step_path
from sdm_service.web.patient.views import fields_from_answers, step_page
from sdm_service.web.patient.visit import PatientVisit, StepVisit

RESPONSES = PatientResponse.__table__  # type: ignore[attr-defined]
CLIENTS = ApiClient.__table__  # type: ignore[attr-defined]
AUDIT = AuditEvent.__table__  # type: ignore[attr-defined]
DOCUMENTS = SummaryDocument.__table__  # type: ignore[attr-defined]
FORM_CONTROLS = frozenset({"_csrf_token", "lock_version", "action"})

STEP_READ = select(
    RESPONSES.c.questionnaire_slug, RESPONSES.c.answers, RESPONSES.c.lock_version, RESPONSES.c.current_step
).where(RESPONSES.c.resume_token_hash == bindparam("token_hash"))
ROW_READ = select(
    *(
        RESPONSES.c[name]
        for name in (
            "id",
            "questionnaire_slug",
            "status",
            "answers",
            "patient_system",
            "patient_value",
            "patient_name",
            "updated_at",
            "completed_at",
            "lock_version",
            "language",
        )
    )
)
PDF_READ = select(DOCUMENTS.c.pdf, DOCUMENTS.c.filename)
CLIENT_READ = select(CLIENTS.c.id, CLIENTS.c.name, CLIENTS.c.scopes).where(CLIENTS.c.revoked_at.is_(None))


def _merge_answers(engine: AsyncEngine, patch: dict[str, Any]) -> Any:
    """The stored answers with the posted ones laid over them, inside the UPDATE itself."""
    if engine.dialect.name == "postgresql":
        return RESPONSES.c.answers.op("||")(cast(json.dumps(patch), RESPONSES.c.answers.type))
    return func.json_patch(RESPONSES.c.answers, json.dumps(patch))


def essential_router(settings: Settings, library: ContentLibrary, engine: AsyncEngine) -> Router:
    cookie_name = settings.cookies.patient
    fhir_forms = {
        c.slug: questionnaire_to_fhir(c.questionnaire, settings.base_url) for c in library.by_slug.values()
    }

    @get("/q/{slug:str}/step/{number:int}")
    async def step_get(
        request: Request[Any, Any, Any], slug: FromPath[str], number: FromPath[int]
    ) -> Template:
        content = library.by_slug.get(slug)
        token = request.cookies.get(cookie_name, "")
        async with engine.connect() as connection:
            row = (await connection.execute(STEP_READ, {"token_hash": hash_token(token)})).first()
        if content is None or row is None or row.questionnaire_slug != slug:
            raise NotFoundException()
        answers = enabled_answers(content.questionnaire, row.answers)
        items = enabled_items(content.questionnaire, answers, number - 1)
        fields = fields_from_answers(items, answers)
        # The page reads only the lock version of the response row: a bare carrier, not an ORM load.
        visit = PatientVisit(content, PatientResponse.model_construct(lock_version=row.lock_version), token)
        return step_page(StepVisit(number - 1, visit), settings, fields)

    @post("/q/{slug:str}/step/{number:int}", status_code=303)
    async def step_post(
        request: Request[Any, Any, Any], slug: FromPath[str], number: FromPath[int]
    ) -> Response[Any]:
        content = library.by_slug.get(slug)
        if content is None:
            raise NotFoundException()
        form = await request.form()
        patch: dict[str, Any] = {}
        for key in form:
            if key not in FORM_CONTROLS:
                values = form.getall(key)
                patch[key] = values if len(values) > 1 else values[0]
        lock_version = int(form.get("lock_version") or 0)
        token = request.cookies.get(cookie_name, "")
        save = (
            update(RESPONSES)
            .where(
                RESPONSES.c.resume_token_hash == hash_token(token),
                RESPONSES.c.lock_version == lock_version,
                RESPONSES.c.status == "in_progress",
            )
            .values(
                answers=_merge_answers(engine, patch),
                lock_version=RESPONSES.c.lock_version + 1,
                current_step=func.max(RESPONSES.c.current_step, number)
                if engine.dialect.name == "sqlite"
                else func.greatest(RESPONSES.c.current_step, number),
                updated_at=datetime.now(UTC),
            )
        )
        async with engine.begin() as connection:
            saved = (await connection.execute(save)).rowcount
        if saved != 1:
            return Response("changed elsewhere", status_code=409, media_type="text/plain")
        return Redirect(step_path(content, number + 1), status_code=303)

    async def audited(request: Request[Any, Any, Any], read: Any, via: dict[str, str]) -> Any:
        """The token lookup, `read` (a row or None) and one audit INSERT, in one transaction."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        async with engine.begin() as connection:
            client = (
                await connection.execute(CLIENT_READ.where(CLIENTS.c.token_hash == hash_token(token)))
            ).first()
            if scheme.lower() != "bearer" or client is None or "responses:read" not in client.scopes.split():
                raise NotAuthorizedException()
            row = (await connection.execute(read)).first()
            if row is None:
                raise NotFoundException()
            await connection.execute(
                AUDIT.insert().values(
                    occurred_at=datetime.now(UTC),
                    actor_type="api_client",
                    actor_id=str(client.id),
                    actor_label=client.name,
                    action="api.response.read",
                    entity_type="response",
                    entity_id=str(request.path_params["resource_id"]),
                    ip=request.client.host if request.client else "",
                    detail={"path": request.url.path, **via},
                )
            )
        return row

    @get("/fhir/QuestionnaireResponse/{resource_id:str}", media_type=FHIR_JSON)
    async def fhir_read(request: Request[Any, Any, Any], resource_id: FromPath[str]) -> Response[Any]:
        row = await audited(
            request, ROW_READ.where(RESPONSES.c.id == _uuid(resource_id)), {"via": "fhir-read"}
        )
        content = library.get(row.questionnaire_slug)
        resource = to_questionnaire_response(
            ResponseRecord.of(row), content.questionnaire, fhir_forms[content.slug]
        )
        return Response(resource, media_type=FHIR_JSON, headers={"ETag": f'W/"{row.lock_version}"'})

    @get("/api/v1/responses/{resource_id:uuid}/summary.pdf", media_type="application/pdf")
    async def stored_pdf(
        request: Request[Any, Any, Any], resource_id: FromPath[uuid.UUID]
    ) -> Response[bytes]:
        row = await audited(
            request, PDF_READ.where(DOCUMENTS.c.response_id == resource_id), {"format": "pdf"}
        )
        headers = {
            "Content-Disposition": f'attachment; filename="{row.filename}"',
            "Cache-Control": "no-store",
        }
        return Response(row.pdf, media_type="application/pdf", headers=headers)

    return Router(path="/", route_handlers=[step_get, step_post, fhir_read, stored_pdf])


def _uuid(value: str) -> Any:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise NotFoundException() from None

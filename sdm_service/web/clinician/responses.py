"""The worklist, one response (answers, summary, reviews), its PDF, and marking it reviewed.

Every read of patient data here writes an audit event in the same unit of work as the page.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.response import Response as HttpResponse
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from sdm_service.audit import listed, record_now
from sdm_service.content import ContentLibrary
from sdm_service.models import PatientResponse, ResponseStatus, User, utcnow
from sdm_service.services import patient_links, reviews, worklist
from sdm_service.web import auth
from sdm_service.web.clinician.common import (
    FormError,
    audit,
    client_ip,
    field,
    page,
    parse_date,
    parse_page,
    priority_labels,
    read_form,
)
from sdm_service.web.downloads import summary_pdf_download, translated_pdf_download


def _filters_from_query(request: Request[Any, Any, Any]) -> worklist.WorklistFilters:
    query = request.query_params
    statuses = tuple(s for s in query.getall("status", []) if s)
    return worklist.WorklistFilters(
        statuses=statuses,
        flagged_only=query.get("flagged") == "1",
        consult_from=parse_date(query.get("from", ""), "Consult from"),
        consult_to=parse_date(query.get("to", ""), "Consult to"),
        query=(query.get("q") or "").strip(),
        page=parse_page(query.get("page", "")),
    )


def _query_string(filters: worklist.WorklistFilters, page_number: int) -> str:
    from urllib.parse import urlencode

    pairs: list[tuple[str, str]] = [("status", s) for s in filters.statuses]
    if filters.flagged_only:
        pairs.append(("flagged", "1"))
    if filters.consult_from:
        pairs.append(("from", filters.consult_from.isoformat()))
    if filters.consult_to:
        pairs.append(("to", filters.consult_to.isoformat()))
    if filters.query:
        pairs.append(("q", filters.query))
    pairs.append(("page", str(page_number)))
    return urlencode(pairs)


@get("/", name="clinician:worklist", include_in_schema=False)
async def worklist_view(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    library: NamedDependency[ContentLibrary],
    current_user: NamedDependency[User],
) -> Template:
    raw = request.query_params
    form_values = {
        "statuses": [s for s in raw.getall("status", []) if s],
        "flagged": raw.get("flagged") == "1",
        "from": raw.get("from", ""),
        "to": raw.get("to", ""),
        "q": raw.get("q", ""),
    }
    try:
        filters = _filters_from_query(request)
    except (FormError, worklist.WorklistError) as exc:
        return page(
            "clinician/worklist.html",
            current_user,
            {"error": str(exc), "result": None, "form": form_values, "all_statuses": ResponseStatus.ALL},
            status_code=400,
        )
    result = await worklist.worklist_page(db_session, filters, today=utcnow().date())
    await audit(
        request,
        db_session,
        current_user,
        "worklist.view",
        entity_type="response",
        detail={
            **filters.as_detail(),
            "page": result.page,
            "shown": len(result.rows),
            "total": result.total,
            **listed(row.id for row in result.rows),
        },
    )
    return page(
        "clinician/worklist.html",
        current_user,
        {
            "error": None,
            "result": result,
            "form": form_values,
            "all_statuses": ResponseStatus.ALL,
            "priority_labels": priority_labels(library),
            "today": utcnow().date(),
            "prev_query": _query_string(result.filters, result.page - 1) if result.page > 1 else None,
            "next_query": _query_string(result.filters, result.page + 1)
            if result.page < result.pages
            else None,
        },
    )


async def _response_or_404(db_session: AsyncSession, response_id: uuid.UUID) -> PatientResponse:
    response = await db_session.get(PatientResponse, response_id)
    if response is None:
        raise NotFoundException("No response with this id.")
    return response


async def _response_page(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    library: ContentLibrary,
    user: User,
    response: PatientResponse,
    *,
    review_error: str | None = None,
    note: str = "",
    status_code: int = 200,
) -> Template:
    details = await reviews.response_details(db_session, library, response)
    return page(
        "clinician/response.html",
        user,
        {
            "details": details,
            "response": response,
            "snapshot": details.snapshot,
            "priority_labels": priority_labels(library),
            "review_error": review_error,
            "note": note,
            "note_max": reviews.MAX_NOTE_LENGTH,
            "reviewed_now": request.query_params.get("reviewed") == "1",
            "access_ended_now": request.query_params.get("access_ended") == "1",
            "access_ends_at": patient_links.access_ends_at(response, request.app.state.settings),
        },
        status_code=status_code,
    )


@get("/responses/{response_id:uuid}", name="clinician:response", include_in_schema=False)
async def response_view(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    library: NamedDependency[ContentLibrary],
    current_user: NamedDependency[User],
    response_id: FromPath[uuid.UUID],
) -> Template:
    response = await _response_or_404(db_session, response_id)
    await audit(
        request, db_session, current_user, "response.view", entity_type="response", entity_id=str(response.id)
    )
    return await _response_page(request, db_session, library, current_user, response)


@get("/responses/{response_id:uuid}/summary.pdf", name="clinician:response-pdf", include_in_schema=False)
async def response_pdf(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    current_user: NamedDependency[User],
    response_id: FromPath[uuid.UUID],
    language: FromQuery[str | None] = None,
) -> HttpResponse[bytes]:
    """The stored PDF (the patient's language); `?language=en` renders the same summary in English."""
    response = await _response_or_404(db_session, response_id)
    snapshot, problem = reviews.read_snapshot(response)
    if snapshot is None:
        if problem:
            raise HTTPException(status_code=500, detail="The stored summary could not be read.")
        raise NotFoundException("There is no summary yet: the questionnaire is not finished.")
    if language and language != snapshot.language:
        if language not in snapshot.translations:
            raise NotFoundException(f"This summary was not kept in '{language}'.")
        download = await translated_pdf_download(snapshot.in_language(language))
    else:
        download = await summary_pdf_download(db_session, response)
    await audit(
        request,
        db_session,
        current_user,
        "response.pdf",
        entity_type="response",
        entity_id=str(response.id),
        detail={"language": language or snapshot.language},
    )
    return download


@post("/responses/{response_id:uuid}/review", name="clinician:review", include_in_schema=False)
async def review_response(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    library: NamedDependency[ContentLibrary],
    current_user: NamedDependency[User],
    response_id: FromPath[uuid.UUID],
    side_engine: NamedDependency[AsyncEngine],
) -> Template | Redirect:
    response = await _response_or_404(db_session, response_id)
    form = await read_form(request)
    ip = client_ip(request)
    note = ""
    try:
        note = field(form, "note")
        review = await reviews.mark_reviewed(db_session, response, current_user, note)
    except (FormError, reviews.ReviewError) as exc:
        # The page below shows patient data while the request rolls back: record the view on its own.
        await record_now(
            side_engine,
            auth.actor_for(current_user),
            "response.view",
            entity_type="response",
            entity_id=str(response.id),
            ip=ip,
        )
        await db_session.refresh(response)
        return await _response_page(
            request,
            db_session,
            library,
            current_user,
            response,
            review_error=str(exc),
            note=note,
            status_code=400,
        )
    except StaleDataError:
        raise HTTPException(
            status_code=409, detail="The response changed while you were reviewing it."
        ) from None
    await audit(
        request,
        db_session,
        current_user,
        "response.review",
        entity_type="response",
        entity_id=str(response.id),
        detail={"review_id": str(review.id), "note_length": len(review.note)},
    )
    return Redirect(f"/clinician/responses/{response.id}?reviewed=1#reviews", status_code=303)


@post("/responses/{response_id:uuid}/end-access", name="clinician:end-access", include_in_schema=False)
async def end_patient_access(
    request: Request[Any, Any, Any],
    db_session: NamedDependency[AsyncSession],
    current_user: NamedDependency[User],
    response_id: FromPath[uuid.UUID],
) -> Redirect:
    """End the patient's access: their links and cookie stop working now (audited)."""
    response = await _response_or_404(db_session, response_id)
    await read_form(request)  # the CSRF token is checked by the middleware; nothing else is read
    await patient_links.end_access(db_session, response, auth.actor_for(current_user), ip=client_ip(request))
    return Redirect(f"/clinician/responses/{response.id}?access_ended=1#patient-access", status_code=303)


routes = [worklist_view, response_view, response_pdf, review_response, end_patient_access]

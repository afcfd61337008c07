"""The worklist, one response (answers, summary, reviews), its PDF, and marking it reviewed.

Every read of patient data here writes an audit event in the same unit of work as the page.
"""

from __future__ import annotations

import uuid
from urllib.parse import urlencode

from litestar import get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.response import Response as HttpResponse
from sqlalchemy.orm.exc import StaleDataError

from sdm_service.audit import listed
from sdm_service.content import ContentLibrary
from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.models import PatientResponse, ResponseStatus, utcnow
from sdm_service.services import documents, patient_links, reviews, worklist
from sdm_service.web import auth
from sdm_service.web.clinician.common import (
    ClinicianCall,
    FormError,
    field,
    page_links,
    parse_date,
    parse_page,
    priority_labels,
)
from sdm_service.web.downloads import as_download, summary_pdf_download, translated_pdf_download


def _filters_from_query(call: ClinicianCall) -> worklist.WorklistFilters:
    query = call.request.query_params
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
    call: NamedDependency[ClinicianCall], library: NamedDependency[ContentLibrary]
) -> Template:
    raw = call.request.query_params
    form_values = {
        "statuses": [s for s in raw.getall("status", []) if s],
        "flagged": raw.get("flagged") == "1",
        "from": raw.get("from", ""),
        "to": raw.get("to", ""),
        "q": raw.get("q", ""),
    }
    try:
        filters = _filters_from_query(call)
    except (FormError, worklist.WorklistError) as exc:
        return call.page(
            "clinician/worklist.html",
            {"error": str(exc), "result": None, "form": form_values, "all_statuses": ResponseStatus.ALL},
            status_code=400,
        )
    result = await worklist.worklist_page(call.db_session, filters, today=utcnow().date())
    await call.audit(
        "worklist.view",
        entity_type="response",
        detail={
            **filters.as_detail(),
            "page": result.page,
            "shown": len(result.rows),
            "total": result.total,
            "more_than_total": result.more,  # counting stopped at the pager's limit
            **listed(row.id for row in result.rows),
        },
    )
    return call.page(
        "clinician/worklist.html",
        {
            "error": None,
            "result": result,
            "form": form_values,
            "all_statuses": ResponseStatus.ALL,
            "priority_labels": priority_labels(library),
            "today": utcnow().date(),
            **page_links(result.page, result.pages, lambda number: _query_string(result.filters, number)),
        },
    )


async def _response_or_404(call: ClinicianCall, response_id: uuid.UUID) -> PatientResponse:
    return await call.row_or_404(PatientResponse, response_id, "No response with this id.")


async def _response_page(
    call: ClinicianCall,
    library: ContentLibrary,
    response: PatientResponse,
    *,
    review_error: str | None = None,
    note: str = "",
    status_code: int = 200,
) -> Template:
    details = await reviews.response_details(call.db_session, library, response)
    return call.page(
        "clinician/response.html",
        {
            "details": details,
            "response": response,
            "snapshot": details.snapshot,
            "priority_labels": priority_labels(library),
            "review_error": review_error,
            "note": note,
            "note_max": reviews.MAX_NOTE_LENGTH,
            "reviewed_now": call.query("reviewed") == "1",
            "access_ended_now": call.query("access_ended") == "1",
            "access_ends_at": patient_links.access_ends_at(response, call.settings),
        },
        status_code=status_code,
    )


@get("/responses/{response_id:uuid}", name="clinician:response", include_in_schema=False)
async def response_view(
    call: NamedDependency[ClinicianCall],
    library: NamedDependency[ContentLibrary],
    response_id: FromPath[uuid.UUID],
) -> Template:
    response = await _response_or_404(call, response_id)
    await call.audit("response.view", entity_type="response", entity_id=str(response.id))
    return await _response_page(call, library, response)


@get("/responses/{response_id:uuid}/summary.pdf", name="clinician:response-pdf", include_in_schema=False)
async def response_pdf(
    call: NamedDependency[ClinicianCall],
    response_id: FromPath[uuid.UUID],
    language: FromQuery[str | None] = None,
) -> HttpResponse[bytes]:
    """The stored PDF (the patient's language), served as stored: the response row is loaded only
    when nothing is stored. `?language=en` renders the same summary in English."""
    if language:
        response, snapshot = await _summarised(call, response_id)
        if language == snapshot.language:
            download = await summary_pdf_download(call.db_session, response)
        elif language in snapshot.translations:
            download = await translated_pdf_download(snapshot.in_language(language))
        else:
            raise NotFoundException(f"This summary was not kept in '{language}'.")
    else:

        async def completed() -> PatientResponse:  # only when nothing is stored: 404, 500 or store first
            return (await _summarised(call, response_id))[0]

        download = as_download(await documents.document_of_record(call.db_session, response_id, completed))
        language = await reviews.summary_language(call.db_session, response_id)
    await call.audit(
        "response.pdf", entity_type="response", entity_id=str(response_id), detail={"language": language}
    )
    return download


async def _summarised(call: ClinicianCall, response_id: uuid.UUID) -> tuple[PatientResponse, SummarySnapshot]:
    """The response and its summary, or 404 (no such response, or not finished); 500 when the
    stored summary cannot be read."""
    response = await _response_or_404(call, response_id)
    snapshot, problem = reviews.read_snapshot(response)
    if snapshot is None:
        if problem:
            raise HTTPException(status_code=500, detail="The stored summary could not be read.")
        raise NotFoundException("There is no summary yet: the questionnaire is not finished.")
    return response, snapshot


@post("/responses/{response_id:uuid}/review", name="clinician:review", include_in_schema=False)
async def review_response(
    call: NamedDependency[ClinicianCall],
    library: NamedDependency[ContentLibrary],
    response_id: FromPath[uuid.UUID],
) -> Template | Redirect:
    response = await _response_or_404(call, response_id)
    form = await call.form()
    note = ""
    try:
        note = field(form, "note")
        review = await reviews.mark_reviewed(call.db_session, response, call.current_user, note)
    except (FormError, reviews.ReviewError) as exc:
        # The page below shows patient data while the request rolls back: record the view on its own.
        await call.audit("response.view", entity_type="response", entity_id=str(response.id), on_its_own=True)
        await call.db_session.refresh(response)
        return await _response_page(
            call, library, response, review_error=str(exc), note=note, status_code=400
        )
    except StaleDataError:
        raise HTTPException(
            status_code=409, detail="The response changed while you were reviewing it."
        ) from None
    await call.audit(
        "response.review",
        entity_type="response",
        entity_id=str(response.id),
        detail={"review_id": str(review.id), "note_length": len(review.note)},
    )
    return Redirect(f"/clinician/responses/{response.id}?reviewed=1#reviews", status_code=303)


@post("/responses/{response_id:uuid}/end-access", name="clinician:end-access", include_in_schema=False)
async def end_patient_access(
    call: NamedDependency[ClinicianCall], response_id: FromPath[uuid.UUID]
) -> Redirect:
    """End the patient's access: their links and cookie stop working now (audited)."""
    response = await _response_or_404(call, response_id)
    await call.form()  # the CSRF token is checked by the middleware; nothing else is read
    await patient_links.end_access(call.db_session, response, auth.actor_for(call.current_user), ip=call.ip)
    return Redirect(f"/clinician/responses/{response.id}?access_ended=1#patient-access", status_code=303)


routes = [worklist_view, response_view, response_pdf, review_response, end_patient_access]

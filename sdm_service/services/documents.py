"""The summary PDF as the document of record: rendered once, stored, and served as stored.

At completion (`after_completion`, run once the completing request has committed and answered) the
PDF is rendered from the summary snapshot and stored with its digests in a unit of work of its own.
Rendering is slow CPU work: done inside the completing request it held a pooled connection for the
whole rendering, and a burst of submits ran the pool dry (503s). Every channel (patient and
clinician downloads, the JSON API, FHIR Binary and DocumentReference) reads the document through
`summary_pdf`, which never re-renders a stored one: a later release of the renderer cannot alter a
document that was handed out. Channels that know only the response's id (the JSON API's
summary.pdf, FHIR Binary) go through `document_of_record`: one primary-key read of the stored
document, the response row loaded only when nothing is stored.

A completed response whose document is not stored (completed before documents were stored, or its
after-completion work lost to a crash) is rendered on its first request and stored then. Two
concurrent first requests may both render, but the insert ignores a row that already exists and
both then read the one stored row, so both serve identical bytes. Completion itself is never
half-written: the summary is committed with it, and the document always follows from the summary.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlmodel import col

from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.fhirmap.document import document_reference
from sdm_service.models import PatientResponse, SummaryDocument, utcnow
from sdm_service.observability import counters
from sdm_service.report import pdf as report_pdf

logger = logging.getLogger("sdm_service.documents")

PDF_MEDIA_TYPE = "application/pdf"


class NoSummaryYet(LookupError):
    """The response is not completed, so it has no summary and no PDF."""


@dataclass(frozen=True)
class DocumentFacts:
    """What describes a stored PDF without its bytes (for FHIR DocumentReference)."""

    sha256: str
    sha1_base64: str
    size: int


@dataclass(frozen=True)
class SummaryPdf:
    content: bytes
    filename: str
    facts: DocumentFacts

    def download_headers(self) -> dict[str, str]:
        """An attachment that is never cached (patient data). The lower-case header name is the one
        Litestar's cache_control uses, so a router-level setting is replaced, not repeated."""
        return {
            "Content-Disposition": f'attachment; filename="{self.filename}"',
            "cache-control": "no-store",
        }


def describe(pdf: bytes) -> DocumentFacts:
    return DocumentFacts(
        sha256=hashlib.sha256(pdf).hexdigest(),
        sha1_base64=base64.b64encode(hashlib.sha1(pdf, usedforsecurity=False).digest()).decode("ascii"),
        size=len(pdf),
    )


def snapshot_of(response: PatientResponse) -> SummarySnapshot:
    if not response.summary:
        raise NoSummaryYet(f"Response {response.id} is {response.status}; it has no summary yet.")
    return SummarySnapshot.model_validate(response.summary)


def summary_document_reference(row: PatientResponse, facts: DocumentFacts, base_url: str) -> dict[str, Any]:
    """The FHIR DocumentReference of a completed response's stored PDF (base_url: the FHIR base), the
    same for the API and for the copy delivered to the EHR."""
    snapshot = snapshot_of(row)
    return document_reference(
        response_id=str(row.id),
        base_url=base_url,
        patient_system=row.patient_system,
        patient_value=row.patient_value,
        patient_name=row.patient_name,
        completed_at=row.completed_at or row.updated_at,
        updated_at=row.updated_at,
        title=f"{snapshot.questionnaire_title}: summary for the care-team visit",
        filename=report_pdf.pdf_filename(snapshot),
        size=facts.size,
        sha1_base64=facts.sha1_base64,
        language=snapshot.language,
    )


async def render(snapshot: SummarySnapshot) -> SummaryPdf:
    """The summary rendered by the report's public renderer, off the event loop (not stored)."""
    content = await report_pdf.render_summary_pdf_async(snapshot)
    counters.SUMMARIES_RENDERED.inc()
    return SummaryPdf(content=content, filename=report_pdf.pdf_filename(snapshot), facts=describe(content))


async def store_summary_pdf(session: AsyncSession, response_id: uuid.UUID, pdf: SummaryPdf) -> None:
    """Store `pdf` as the response's document unless one is stored already (the first one wins)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = insert(SummaryDocument).on_conflict_do_nothing(index_elements=["response_id"])
    row = {
        "response_id": response_id,
        "pdf": pdf.content,
        "filename": pdf.filename,
        "sha256": pdf.facts.sha256,
        "sha1_base64": pdf.facts.sha1_base64,
        "size": pdf.facts.size,
        "created_at": utcnow(),
    }
    await session.execute(statement, [row])


_FACTS = (
    col(SummaryDocument.sha256),
    col(SummaryDocument.sha1_base64),
    col(SummaryDocument.size),
)


def _facts(row: Any) -> DocumentFacts:
    return DocumentFacts(sha256=row.sha256, sha1_base64=row.sha1_base64, size=row.size)


async def stored_pdf(session: AsyncSession, response_id: uuid.UUID) -> SummaryPdf | None:
    """The stored document of the response with this id, by one primary-key read (the response row
    itself is not loaded); None when none is stored (not completed, not stored yet, or no such
    response)."""
    statement = select(col(SummaryDocument.pdf), col(SummaryDocument.filename), *_FACTS).where(
        col(SummaryDocument.response_id) == response_id
    )
    row = (await session.execute(statement)).one_or_none()
    return None if row is None else SummaryPdf(content=row.pdf, filename=row.filename, facts=_facts(row))


async def summary_pdf(session: AsyncSession, response: PatientResponse) -> SummaryPdf:
    """The stored PDF of a completed response (the summary is not even parsed); rendered from the
    stored summary and stored first if it has none yet. Raises NoSummaryYet before completion."""
    stored = await stored_pdf(session, response.id)
    if stored is None:
        await store_summary_pdf(session, response.id, await render(snapshot_of(response)))
        stored = await stored_pdf(session, response.id)
        if stored is None:  # pragma: no cover - the insert above or a concurrent one stored it
            raise RuntimeError(f"the summary document of response {response.id} was not stored")
    return stored


async def document_of_record(
    session: AsyncSession,
    response_id: uuid.UUID,
    completed_response: Callable[[], Awaitable[PatientResponse]],
) -> SummaryPdf:
    """The document to serve for the response with this id: the stored one, by one primary-key read
    (the response row and its 16 KB summary are not loaded). Only when none is stored is the row
    loaded, by `completed_response`, which raises the channel's own answer (404, 409) when there is
    no such response or it is not completed; its document is then rendered and stored first."""
    stored = await stored_pdf(session, response_id)
    if stored is not None:
        return stored
    return await summary_pdf(session, await completed_response())


def after_completion(session: AsyncSession, response: PatientResponse) -> Callable[[], Awaitable[None]]:
    """The work that stores a just-completed response's document, to run after its request: it
    renders without holding a database connection, then stores in its own short unit of work."""
    engine = session.bind
    if not isinstance(engine, AsyncEngine):  # pragma: no cover - sessions here are always bound
        raise TypeError("the session is not bound to an engine")
    response_id, snapshot = response.id, snapshot_of(response)

    async def store() -> None:
        try:
            pdf = await render(snapshot)
            async with AsyncSession(engine) as own:
                await store_summary_pdf(own, response_id, pdf)
                await own.commit()
        except Exception:  # nothing is lost: the first request for the document renders and stores it
            logger.exception(
                "the summary document of response %s was not stored after completion", response_id
            )

    return store


async def document_facts(
    session: AsyncSession, responses: Iterable[PatientResponse]
) -> dict[uuid.UUID, DocumentFacts]:
    """Digests and sizes of the stored PDFs of completed `responses`, storing any that are missing."""
    wanted = {response.id: response for response in responses}
    if not wanted:
        return {}
    statement = select(col(SummaryDocument.response_id), *_FACTS).where(
        col(SummaryDocument.response_id).in_(wanted)
    )
    facts = {row.response_id: _facts(row) for row in await session.execute(statement)}
    for response_id, response in wanted.items():
        if response_id not in facts:
            facts[response_id] = (await summary_pdf(session, response)).facts
    return facts

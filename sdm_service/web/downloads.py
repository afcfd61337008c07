"""The stored summary PDF as an HTTP download for the patient pages and the clinician workspace."""

from __future__ import annotations

from litestar import Response as HttpResponse
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.models import PatientResponse
from sdm_service.report import pdf as report_pdf
from sdm_service.services import documents


def as_download(pdf: documents.SummaryPdf) -> HttpResponse[bytes]:
    """The document of record (see services/documents.py), as an attachment that is never cached."""
    return HttpResponse(pdf.content, media_type=documents.PDF_MEDIA_TYPE, headers=pdf.download_headers())


async def summary_pdf_download(session: AsyncSession, response: PatientResponse) -> HttpResponse[bytes]:
    return as_download(await documents.summary_pdf(session, response))


async def translated_pdf_download(snapshot: SummarySnapshot) -> HttpResponse[bytes]:
    """The same summary rendered in another language it was kept in (for clinicians): rendered on
    request, never stored; the document of record stays the one in the patient's language."""
    content = await report_pdf.render_summary_pdf_async(snapshot)
    filename = report_pdf.pdf_filename(snapshot).removesuffix(".pdf") + f"-{snapshot.language}.pdf"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "cache-control": "no-store"}
    return HttpResponse(content, media_type=documents.PDF_MEDIA_TYPE, headers=headers)

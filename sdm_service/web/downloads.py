"""The stored summary PDF as an HTTP download for the patient pages and the clinician workspace."""

from __future__ import annotations

from litestar import Response as HttpResponse
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.models import PatientResponse
from sdm_service.services import documents


async def summary_pdf_download(session: AsyncSession, response: PatientResponse) -> HttpResponse[bytes]:
    """The document of record (see services/documents.py), as an attachment that is never cached."""
    pdf = await documents.summary_pdf(session, response)
    return HttpResponse(pdf.content, media_type=documents.PDF_MEDIA_TYPE, headers=pdf.download_headers())

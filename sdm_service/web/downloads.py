"""The summary PDF as an HTTP download, shared by the patient pages, the clinician workspace and the APIs."""

from __future__ import annotations

from litestar import Response as HttpResponse
from litestar.datastructures import CacheControlHeader

from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.report.pdf import pdf_filename, render_summary_pdf_async

PDF_MEDIA_TYPE = "application/pdf"
NO_STORE = CacheControlHeader(no_store=True)


async def summary_pdf_download(snapshot: SummarySnapshot) -> HttpResponse[bytes]:
    """The summary rendered off the event loop, as an attachment that is never cached (patient data)."""
    return HttpResponse(
        await render_summary_pdf_async(snapshot),
        media_type=PDF_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{pdf_filename(snapshot)}"',
            # Litestar's own header name, so a router-level cache_control is replaced, not repeated.
            NO_STORE.HEADER_NAME: NO_STORE.to_header(),
        },
    )

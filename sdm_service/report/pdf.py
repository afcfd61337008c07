"""Render a stored SummarySnapshot to PDF bytes with ReportLab.

Pure: the output depends on the snapshot alone (no database, HTTP or clock), and the same
snapshot gives byte-identical PDFs (ReportLab invariant mode: fixed dates and document id).
Page 1 is built in first_page.py, the grid, points and end matter in body.py; styles and small
flowables in styles.py and flowables.py.
"""

from __future__ import annotations

import contextlib
import io
import re
from datetime import datetime

import anyio
import anyio.to_thread
from anyio.lowlevel import RunVar
from reportlab.lib.pagesizes import LETTER
from reportlab.platypus import Flowable, PageBreak, SimpleDocTemplate

from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.report.body import about_section, grid_section, notes_section, points_section
from sdm_service.report.first_page import first_page
from sdm_service.report.flowables import footer_canvas
from sdm_service.report.styles import (
    BOTTOM_MARGIN,
    REGULAR,
    SIDE_MARGIN,
    TOP_MARGIN,
    clean,
    format_completed,
    format_consult,
    patient_line,
    register_fonts,
)
from sdm_service.report.words import N_, _, speaking

__all__ = [
    "build_pdf",
    "format_completed",
    "format_consult",
    "patient_line",
    "pdf_filename",
    "render_summary_pdf",
    "render_summary_pdf_async",
]

AUTHOR = "sdm-service"
SUBJECT = N_("Points to discuss with your care team")
PDF_LANGUAGE = {"en": "en-US", "es": "es-US"}  # the document language tag readers announce
FOOTER_MAX = 90
_FILENAME_UNSAFE = re.compile(r"[^a-z0-9]+")


def _story(snapshot: SummarySnapshot) -> list[Flowable]:
    story: list[Flowable] = [*first_page(snapshot)]
    if snapshot.grid:
        story.append(PageBreak())  # page 1 stands alone: what the team needs first
    story += grid_section(snapshot)
    story += points_section(snapshot)
    story += notes_section()
    story += about_section(snapshot)
    return story


def _footer_text(snapshot: SummarySnapshot) -> str:
    text = f"{_('Response')} {clean(snapshot.response_id)}"
    patient = snapshot.patient
    if patient.identifier_value and patient.identifier_value.strip():
        text += f"  ·  {_('Patient ID')} {clean(patient.identifier_value.strip())}"
    # Keep the footer on one line even for an unusually long id.
    return text if len(text) <= FOOTER_MAX else text[: FOOTER_MAX - 3] + "..."


def render_summary_pdf(snapshot: SummarySnapshot) -> bytes:
    """The summary as PDF bytes, in the snapshot's language; byte-identical for the same snapshot."""
    with speaking(snapshot.language):
        return _render(snapshot)


def _render(snapshot: SummarySnapshot) -> bytes:
    register_fonts()  # before any Paragraph: parsing one looks up its font family
    return build_pdf(
        _story(snapshot),
        title=f"{clean(snapshot.questionnaire_title)}: {_('discussion summary')}",
        language=snapshot.language,
        footer=_footer_text(snapshot),
    )


def build_pdf(story: list[Flowable], *, title: str, language: str, footer: str) -> bytes:
    """A story on the summary's pages: its fonts, margins, metadata and 'Page n of m' footer.

    Call inside speaking(language), after register_fonts(). The benchmark's one-page ceiling
    renders through this too.
    """
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,
        leftMargin=SIDE_MARGIN,
        rightMargin=SIDE_MARGIN,
        topMargin=TOP_MARGIN,
        bottomMargin=BOTTOM_MARGIN,
        title=title,
        author=AUTHOR,
        subject=_(SUBJECT),
        creator=AUTHOR,
        invariant=1,
        lang=PDF_LANGUAGE.get(language, language),
        # Otherwise each page starts in Helvetica, a font that is referenced but not embedded.
        initialFontName=REGULAR,
        initialFontSize=10,
        initialLeading=13,
        displayDocTitle=1,
    )
    doc.build(story, canvasmaker=footer_canvas(footer))
    return buffer.getvalue()


# Renders running at once per event loop (an app process; a delivery worker thread). Rendering is
# Python work under the GIL: a second thread adds no throughput, and each render thread takes GIL
# time from the event loop. A burst of completions once started a render thread each (anyio's
# default limit is 40): the loop got a sliver of the GIL, requests slowed while holding pooled
# connections, and every PDF of the burst finished only at its end (so did their deliveries).
# One at a time, in arrival order, each finishes as soon as it can and requests keep their pace.
RENDERS_AT_ONCE = 1
_render_limiter: RunVar[anyio.CapacityLimiter] = RunVar("sdm_pdf_render_limiter")


def render_limiter() -> anyio.CapacityLimiter:
    """This event loop's turn-taking for renders (made on first use)."""
    try:
        return _render_limiter.get()
    except LookupError:
        limiter = anyio.CapacityLimiter(RENDERS_AT_ONCE)
        _render_limiter.set(limiter)
        return limiter


async def render_summary_pdf_async(snapshot: SummarySnapshot) -> bytes:
    """render_summary_pdf in a worker thread, so the event loop keeps serving requests; renders
    of one event loop take turns (RENDERS_AT_ONCE)."""
    return await anyio.to_thread.run_sync(render_summary_pdf, snapshot, limiter=render_limiter())


def pdf_filename(snapshot: SummarySnapshot) -> str:
    """A download name with safe characters only: iort-discussion-summary-<date>-<short id>.pdf."""
    parts = ["iort-discussion-summary"]
    with contextlib.suppress(ValueError):  # an odd date just leaves the date out
        parts.append(datetime.fromisoformat(snapshot.completed_at).date().isoformat())
    short_id = _FILENAME_UNSAFE.sub("", snapshot.response_id.lower())[:8]
    if short_id:
        parts.append(short_id)
    return "-".join(parts) + ".pdf"

"""PDF row, in process: summary renders per second against a one-page ReportLab document with
20 paragraphs (the least a ReportLab render can be), A/B interleaved like the HTTP rows."""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from pypdf import PdfReader
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate

from sdm_service.decision.snapshot import SummarySnapshot

CEILING_TEXT = (
    "Paragraph {n}. A short plain sentence about the consult, long enough to wrap onto a second line "
    "so the layout engine has some work to do on each paragraph of this page."
)


def render_ceiling_pdf() -> bytes:
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=LETTER, invariant=1)
    doc.build([Paragraph(CEILING_TEXT.format(n=n), styles["BodyText"]) for n in range(1, 21)])
    return buffer.getvalue()


def realistic_snapshot() -> SummarySnapshot:
    """A completed response's stored summary, made the way the seeded database's are."""
    from bench.seed import SLUG, response_rows
    from sdm_service.content import load_library
    from sdm_service.settings import PROJECT_ROOT

    content = load_library(PROJECT_ROOT / "questionnaires").get(SLUG)
    for row, _status in response_rows(content, 50, seed=8):
        if isinstance(row["summary"], dict):
            return SummarySnapshot.model_validate(row["summary"])
    raise RuntimeError("no completed response among the generated rows")


def renders_per_second(render: Callable[[], bytes], seconds: float) -> float:
    count = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        render()
        count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started)


@dataclass(frozen=True)
class PdfFigures:
    service_rps: list[float]
    ceiling_rps: list[float]
    summary_bytes: int
    summary_pages: int

    @property
    def service(self) -> float:
        return statistics.median(self.service_rps)

    @property
    def ceiling(self) -> float:
        return statistics.median(self.ceiling_rps)


def measure_pdf(rounds: int, seconds: float) -> PdfFigures:
    from sdm_service.report.pdf import render_summary_pdf

    snapshot = realistic_snapshot()

    def service() -> bytes:
        return render_summary_pdf(snapshot)

    first = service()  # also the warm-up: fonts registered, modules imported
    pages = len(PdfReader(io.BytesIO(first)).pages)
    render_ceiling_pdf()
    service_rps: list[float] = []
    ceiling_rps: list[float] = []
    for index in range(rounds):
        pair = [(service, service_rps), (render_ceiling_pdf, ceiling_rps)]
        for render, sink in pair if index % 2 == 0 else reversed(pair):
            sink.append(renders_per_second(render, seconds))
    return PdfFigures(service_rps, ceiling_rps, len(first), pages)

"""PDF row, in process: summary renders per second against a one-page ReportLab document with
20 paragraphs (the least a ReportLab render can be), A/B interleaved like the HTTP rows."""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

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
    from bench.answers import SLUG, response_rows
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


def summary_page_html(snapshot: SummarySnapshot) -> str:
    """The web summary page (patient/summary.html) for the snapshot, rendered as the service does."""
    from jinja2 import Environment, FileSystemLoader
    from litestar.datastructures import State

    from sdm_service.app import configure_templates
    from sdm_service.content import load_library
    from sdm_service.i18n import Catalogs
    from sdm_service.settings import Settings

    settings = Settings()
    env = Environment(loader=FileSystemLoader(settings.templates_dir))
    # The service's own environment (filters such as long_date, translations, globals).
    configure_templates(env, settings, load_library(settings.content_dir), Catalogs())
    env.globals["csrf_input"] = ""
    return env.get_template("patient/summary.html").render(
        page_title="Your summary",
        # What the page reads of the request: its language (the snapshot's) and no language links.
        request=SimpleNamespace(state=State({"language": snapshot.language, "language_links": []})),
        s=snapshot,
        pdf_path="/q/iort-sdm/summary.pdf",
        resume_url="https://sdm.bench.invalid/r/token",
        already_sent=False,
        completed_on=snapshot.completed_at[:10],
        consult_on=snapshot.consult_date,
    )


def weasyprint_renderer(html: str) -> Callable[[], bytes]:
    """The peer: WeasyPrint turning the summary page (with its stylesheet) into a PDF."""
    import weasyprint

    from sdm_service.settings import Settings

    static = Settings().static_dir

    # The page links its files under /static/; point them at the service's own folder.
    page = html.replace('="/static/', f'="{static.as_uri()}/')

    def render() -> bytes:
        return bytes(weasyprint.HTML(string=page, base_url=static.as_uri() + "/").write_pdf())

    return render


@dataclass(frozen=True)
class PdfFigures:
    service_rps: list[float]
    ceiling_rps: list[float]
    summary_bytes: int
    summary_pages: int
    peer_rps: list[float]
    peer_pages: int

    @property
    def peer(self) -> float:
        return statistics.median(self.peer_rps)

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
    peer = weasyprint_renderer(summary_page_html(snapshot))
    peer_pages = len(PdfReader(io.BytesIO(peer())).pages)
    service_rps: list[float] = []
    ceiling_rps: list[float] = []
    peer_rps: list[float] = []
    for index in range(rounds):
        trio = [(service, service_rps), (render_ceiling_pdf, ceiling_rps), (peer, peer_rps)]
        for render, sink in trio if index % 2 == 0 else reversed(trio):
            sink.append(renders_per_second(render, seconds))
    return PdfFigures(service_rps, ceiling_rps, len(first), pages, peer_rps, peer_pages)

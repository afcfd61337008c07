"""PDF row, in process: summary renders per second against the ceiling, a one-page document of
20 paragraphs rendered by the service's own renderer (its embedded fonts, paragraph style, page
template, metadata and 'Page n of m' footer: the least one page of our PDF can cost), interleaved
like the HTTP rows. A bare ReportLab page (standard Helvetica, nothing embedded, no footer) is
measured too and reported beside it, for reference.

Each side renders what a busy service would, a stream of different patients, never one document
again and again: the summary and the WeasyPrint peer rotate through several patients' summaries
(different answers, so different points, options and evidence), and each summary render is of a
patient not seen before (a name, response id and own questions of its own), as each completion
renders its own summary once; no two ceiling pages carry the same text either. So what the
renderer keeps between renders (what it learnt from text it saw before) flatters neither figure:
only text that really recurs from patient to patient (the content's headings, statements and
options) recurs.
"""

from __future__ import annotations

import io
import itertools
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from pypdf import PdfReader
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate

from sdm_service.decision.snapshot import SummarySnapshot

SNAPSHOTS = 8  # patients the summary and the peer rotate through
CEILING_TEXT = (
    "Paragraph {n:06d}. A short plain sentence about the consult, long enough to wrap onto a second line "
    "so the layout engine has some work to do on each paragraph of this page."
)


def render_ceiling_pdf(serial: int = 0) -> bytes:
    """One page through the service's renderer: the summary's fonts, body style, template and footer.
    Its paragraphs are numbered from 20 x serial, so each serial is a page of text not seen before."""
    from sdm_service.report.pdf import build_pdf
    from sdm_service.report.styles import para, register_fonts
    from sdm_service.report.words import speaking

    register_fonts()
    with speaking("en"):
        story = [para(CEILING_TEXT.format(n=20 * serial + n), "body") for n in range(1, 21)]
        return build_pdf(story, title="Ceiling", language="en", footer="Response ceiling")


def render_bare_reportlab_pdf() -> bytes:
    """Reference only: one page of bare ReportLab (Helvetica, not embedded; no footer)."""
    styles = getSampleStyleSheet()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(buffer, pagesize=LETTER, invariant=1)
    doc.build([Paragraph(CEILING_TEXT.format(n=n), styles["BodyText"]) for n in range(1, 21)])
    return buffer.getvalue()


def realistic_snapshots(count: int = SNAPSHOTS, *, now: datetime | None = None) -> list[SummarySnapshot]:
    """Completed responses' stored summaries, made the way the seeded database's are: the real
    engine's summaries of different patients' answers (one per answer set)."""
    from bench.answers import SLUG, response_rows
    from sdm_service.content import load_library
    from sdm_service.settings import PROJECT_ROOT

    content = load_library(PROJECT_ROOT / "questionnaires").get(SLUG)
    snapshots: list[SummarySnapshot] = []
    seen: set[str] = set()
    for row, _status in response_rows(content, 50 * count, seed=8, now=now):
        summary = row["summary"]
        if not isinstance(summary, dict):
            continue
        snapshot = SummarySnapshot.model_validate(summary)
        # Rows that share an answer set share a summary but for ids and dates: keep one of each.
        answers = snapshot.model_dump_json(exclude={"response_id", "completed_at", "consult_date", "patient"})
        if answers in seen:
            continue
        seen.add(answers)
        snapshots.append(snapshot)
        if len(snapshots) == count:
            return snapshots
    raise RuntimeError(f"fewer than {count} completed responses among the generated rows")


def realistic_snapshot() -> SummarySnapshot:
    """A completed response's stored summary, made the way the seeded database's are."""
    return realistic_snapshots(1)[0]


def new_patients(snapshots: list[SummarySnapshot]) -> Callable[[], SummarySnapshot]:
    """Each call the next snapshot in turn, as a patient not seen before: the patient's own text
    (name, response id, own questions) is made unique, the rest is that patient's summary."""
    serials = itertools.count()

    def patient() -> SummarySnapshot:
        serial = next(serials)
        snapshot = snapshots[serial % len(snapshots)]
        update: dict[str, Any] = {
            "response_id": str(uuid.UUID(int=serial, version=4)),
            "patient": snapshot.patient.model_copy(update={"name": f"{snapshot.patient.name} {serial}"}),
        }
        if snapshot.own_questions:
            update["own_questions"] = f"{snapshot.own_questions} ({serial})"
        return snapshot.model_copy(update=update)

    return patient


def rotating(renders: list[Callable[[], bytes]]) -> Callable[[], bytes]:
    """One render at a time from the list, in turn."""
    turns = itertools.cycle(renders)
    return lambda: next(turns)()


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
    """The web summary page (patient/summary.html) for the snapshot, rendered as the service does:
    the service's own Jinja set-up (configure_templates) and the summary view's context."""

    from jinja2 import Environment, FileSystemLoader

    from sdm_service.app import configure_templates
    from sdm_service.content import load_library
    from sdm_service.i18n import Catalogs
    from sdm_service.settings import Settings

    settings = Settings()
    env = Environment(loader=FileSystemLoader(settings.templates_dir))
    configure_templates(env, settings, load_library(settings.content_dir), Catalogs())
    snapshot = snapshot.in_language(snapshot.language)
    # What the page reads from the request: its language (no switch to others on this page).
    request = SimpleNamespace(state={"language": snapshot.language, "language_links": []})
    return env.get_template("patient/summary.html").render(
        request=request,
        csrf_input="",
        page_title="Your summary",
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
    summary_bytes: int  # on average over the patients rotated through
    summary_pages: float  # likewise
    peer_rps: list[float]
    peer_pages: int
    bare_rps: list[float]
    patients: int  # different summaries the service and the peer rotate through

    @property
    def peer(self) -> float:
        return statistics.median(self.peer_rps)

    @property
    def service(self) -> float:
        return statistics.median(self.service_rps)

    @property
    def bare(self) -> float:
        return statistics.median(self.bare_rps)

    @property
    def ceiling(self) -> float:
        return statistics.median(self.ceiling_rps)


def measure_pdf(rounds: int, seconds: float) -> PdfFigures:
    from sdm_service.report.pdf import render_summary_pdf

    snapshots = realistic_snapshots()
    patients = new_patients(snapshots)

    def service() -> bytes:
        return render_summary_pdf(patients())

    # One render of each summary: the warm-up (fonts registered, modules imported) and their sizes.
    firsts = [service() for _snapshot in snapshots]
    pages = statistics.mean(len(PdfReader(io.BytesIO(pdf)).pages) for pdf in firsts)
    serials = itertools.count()

    def ceiling() -> bytes:
        return render_ceiling_pdf(next(serials))

    if len(PdfReader(io.BytesIO(ceiling())).pages) != 1:
        raise RuntimeError("the PDF ceiling must be one page")
    render_bare_reportlab_pdf()
    peers = [weasyprint_renderer(summary_page_html(snapshot)) for snapshot in snapshots]
    peer_pages = len(PdfReader(io.BytesIO(peers[0]())).pages)  # seconds a render: one is the warm-up
    peer = rotating(peers[1:] + peers[:1])
    service_rps: list[float] = []
    ceiling_rps: list[float] = []
    peer_rps: list[float] = []
    bare_rps: list[float] = []
    for index in range(rounds):
        runs = [
            (service, service_rps),
            (ceiling, ceiling_rps),
            (peer, peer_rps),
            (render_bare_reportlab_pdf, bare_rps),
        ]
        for render, sink in runs if index % 2 == 0 else reversed(runs):
            sink.append(renders_per_second(render, seconds))
    size = round(statistics.mean(len(pdf) for pdf in firsts))
    pages = round(pages, 2)
    return PdfFigures(service_rps, ceiling_rps, size, pages, peer_rps, peer_pages, bare_rps, len(snapshots))

"""Render a stored SummarySnapshot to PDF bytes with ReportLab.

Pure: the output depends on the snapshot alone (no database, HTTP or clock), and the same
snapshot gives byte-identical PDFs (ReportLab invariant mode: fixed dates and document id).
Fonts and styles are built once per process; a render only lays out flowables.
"""

from __future__ import annotations

import contextlib
import io
import re
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import anyio.to_thread
from reportlab.graphics.shapes import Drawing, Line, Rect
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    CondPageBreak,
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from sdm_service.decision.snapshot import (
    ConflictResult,
    DiscussionPoint,
    EvidenceCitation,
    RankedPriority,
    SummarySnapshot,
)
from sdm_service.plain_dates import long_date

__all__ = ["pdf_filename", "render_summary_pdf", "render_summary_pdf_async"]

FONT_DIR = Path(__file__).parent / "fonts"
REGULAR = "DejaVuSans"
BOLD = "DejaVuSans-Bold"

AUTHOR = "sdm-service"
SUBJECT = "Points to discuss with your care team"

PAGE_WIDTH, PAGE_HEIGHT = LETTER
SIDE_MARGIN = 0.8 * 72
TOP_MARGIN = 0.75 * 72
BOTTOM_MARGIN = 0.95 * 72  # room for the footer
FRAME_PADDING = 6  # SimpleDocTemplate's frame pads each side by this much
CONTENT_LEFT = SIDE_MARGIN + FRAME_PADDING
CONTENT_WIDTH = PAGE_WIDTH - 2 * CONTENT_LEFT

INK = colors.HexColor("#1f2933")
MUTED_HEX = "#52606d"
MUTED = colors.HexColor(MUTED_HEX)
ACCENT_HEX = "#1f5f99"
ACCENT = colors.HexColor(ACCENT_HEX)
BAR_TRACK = colors.HexColor("#dde5ee")
RULE = colors.HexColor("#b8c4d0")
SHADE = colors.HexColor("#eef3f8")
NOTICE = colors.HexColor("#fff6e0")
NOTICE_EDGE = colors.HexColor("#d9a93a")

MAX_PRIORITY_SCORE = 4
BAR_WIDTH = 116.0
BAR_HEIGHT = 10.0

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

_KIND_LABELS = {
    "benefit": "Benefit",
    "limitation": "Limit",
    "risk": "Risk",
    "process": "How it works",
    "figure": "Study result",
}
_CONFLICT_ANSWERS = {"yes": "Yes", "no": "No"}

# C0/C1 control characters other than tab and newline have no glyph and can upset the layout.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_FILENAME_UNSAFE = re.compile(r"[^a-z0-9]+")

_font_lock = threading.Lock()
_fonts_ready = False


def _register_fonts() -> None:
    """Register the embedded fonts once per process (thread-safe, cheap after the first call)."""
    global _fonts_ready
    if _fonts_ready:
        return
    with _font_lock:
        if _fonts_ready:
            return
        pdfmetrics.registerFont(TTFont(REGULAR, str(FONT_DIR / "DejaVuSans.ttf")))
        pdfmetrics.registerFont(TTFont(BOLD, str(FONT_DIR / "DejaVuSans-Bold.ttf")))
        # No oblique face is shipped: italic falls back to the upright faces.
        pdfmetrics.registerFontFamily(REGULAR, normal=REGULAR, bold=BOLD, italic=REGULAR, boldItalic=BOLD)
        _fonts_ready = True


def _style(name: str, **kwargs: Any) -> ParagraphStyle:
    base: dict[str, Any] = {
        "fontName": REGULAR,
        "fontSize": 11,
        "leading": 16,
        "textColor": INK,
        "splitLongWords": 1,
        "allowWidows": 0,
        "allowOrphans": 0,
    }
    base.update(kwargs)
    return ParagraphStyle(name, **base)


# Built once at import; ParagraphStyle only names the fonts, so registration can stay lazy.
STYLES = {
    "clinic": _style("clinic", fontSize=11, leading=14, textColor=MUTED),
    "title": _style("title", fontName=BOLD, fontSize=22, leading=28, spaceBefore=4, spaceAfter=2),
    "subtitle": _style("subtitle", fontSize=13, leading=18, textColor=MUTED, spaceAfter=12),
    "h2": _style(
        "h2",
        fontName=BOLD,
        fontSize=15,
        leading=20,
        textColor=ACCENT,
        spaceBefore=22,
        spaceAfter=8,
        keepWithNext=1,
    ),
    "h2_free": _style(
        "h2_free", fontName=BOLD, fontSize=15, leading=20, textColor=ACCENT, spaceBefore=22, spaceAfter=8
    ),
    "h3": _style("h3", fontName=BOLD, fontSize=12.5, leading=17, spaceBefore=4, spaceAfter=4, keepWithNext=1),
    "label": _style(
        "label",
        fontName=BOLD,
        fontSize=10.5,
        leading=14,
        textColor=MUTED,
        spaceBefore=6,
        spaceAfter=2,
        keepWithNext=1,
    ),
    "body": _style("body", spaceAfter=6),
    "intro": _style("intro", textColor=MUTED, spaceAfter=10),
    "cell": _style("cell", leading=15),
    "cell_bold": _style("cell_bold", fontName=BOLD, leading=15),
    "cell_label": _style("cell_label", fontName=BOLD, leading=15, textColor=MUTED),
    "cell_right": _style("cell_right", fontSize=10.5, leading=15, textColor=MUTED, alignment=TA_RIGHT),
    "bullet": _style(
        "bullet", leftIndent=16, bulletIndent=2, bulletFontName=REGULAR, bulletFontSize=11, spaceAfter=4
    ),
    "caveat": _style("caveat", fontSize=10.5, leading=15, leftIndent=16, textColor=MUTED, spaceAfter=6),
    "check": _style("check", leftIndent=24, spaceAfter=5),
    "notice": _style("notice", leading=16),
    "source": _style("source", fontSize=10.5, leading=15, leftIndent=16, firstLineIndent=-16, spaceAfter=5),
    "disclaimer": _style("disclaimer", fontName=BOLD, leading=16),
}


# ---------------------------------------------------------------- text helpers


def _clean(text: str) -> str:
    return _CONTROL_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " "))


def _markup(text: str) -> str:
    """Plain text to safe Paragraph markup; line breaks kept."""
    return escape(_clean(text)).replace("\n", "<br/>")


def _para(text: str, style: str) -> Paragraph:
    return Paragraph(_markup(text), STYLES[style])


def _paragraphs(text: str, style: str) -> list[Paragraph]:
    """One Paragraph per non-empty line, so long free text can break across pages between lines."""
    return [_para(line.strip(), style) for line in _clean(text).split("\n") if line.strip()]


def format_completed(value: str) -> str:
    try:
        return long_date(datetime.fromisoformat(value).date())
    except ValueError:
        return value


def format_consult(value: str | None) -> str:
    if not value:
        return "Not set yet"
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return value
    return f"{_WEEKDAYS[day.weekday()]}, {long_date(day)}"


def patient_line(snapshot: SummarySnapshot) -> tuple[str, str] | None:
    patient = snapshot.patient
    if patient.name and patient.name.strip():
        return "Patient", patient.name.strip()
    if patient.identifier_value and patient.identifier_value.strip():
        return "Patient ID", patient.identifier_value.strip()
    return None


# ---------------------------------------------------------------- small flowables


class CheckboxParagraph(Paragraph):
    """A paragraph with an empty check box to tick, drawn beside its first line only."""

    continuation = False

    def draw(self) -> None:
        super().draw()
        if self.continuation:
            return
        size = 10.5
        first_line_top = self.height - (self.style.leading - self.style.fontSize) / 2
        canvas = self.canv
        canvas.saveState()
        canvas.setStrokeColor(INK)
        canvas.setLineWidth(0.9)
        canvas.rect(2, first_line_top - size + 1, size, size, stroke=1, fill=0)
        canvas.restoreState()

    def split(self, availWidth: float, availHeight: float) -> list[Flowable]:
        parts: list[Flowable] = super().split(availWidth, availHeight)
        for part in parts[1:]:
            if isinstance(part, CheckboxParagraph):
                part.continuation = True
        return parts


class NoteLines(Flowable):
    """Ruled lines to write on, filling the rest of the page (between a minimum and a maximum).

    It never splits: lines continued on another page, away from their heading, would puzzle.
    """

    def __init__(self, min_count: int, max_count: int, gap: float = 28.0) -> None:
        super().__init__()
        self.min_count = min_count
        self.max_count = max_count
        self.count = max_count
        self.gap = gap

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        fits = int(availHeight // self.gap)
        self.count = max(self.min_count, min(self.max_count, fits))
        self.width = availWidth
        self.height = self.count * self.gap
        return self.width, self.height

    def draw(self) -> None:
        canvas = self.canv
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.7)
        for index in range(self.count):
            y = self.height - (index + 1) * self.gap
            canvas.line(0, y, self.width, y)
        canvas.restoreState()


def _priority_bar(score: int) -> Drawing:
    """One row of the priorities bar chart: a track with the score filled in, in four segments."""
    score = max(0, min(score, MAX_PRIORITY_SCORE))
    # The initial font stops the renderer from selecting (and so referencing) Helvetica.
    drawing = Drawing(BAR_WIDTH, BAR_HEIGHT + 4, initialFontName=REGULAR, initialFontSize=11)
    drawing.add(Rect(0, 2, BAR_WIDTH, BAR_HEIGHT, fillColor=BAR_TRACK, strokeColor=None))
    if score:
        filled = BAR_WIDTH * score / MAX_PRIORITY_SCORE
        drawing.add(Rect(0, 2, filled, BAR_HEIGHT, fillColor=ACCENT, strokeColor=None))
    for step in range(1, MAX_PRIORITY_SCORE):
        x = BAR_WIDTH * step / MAX_PRIORITY_SCORE
        drawing.add(Line(x, 2, x, 2 + BAR_HEIGHT, strokeColor=colors.white, strokeWidth=1.5))
    return drawing


def _table(rows: list[list[Any]], col_widths: list[float]) -> Table:
    # splitInRow lets a cell taller than a page (a very long answer) continue on the next page.
    return Table(rows, colWidths=col_widths, splitInRow=1)


def _table_style(commands: list[tuple[Any, ...]]) -> TableStyle:
    # Tables select their cell font even for flowable cells; name ours so no unembedded
    # Helvetica is referenced.
    return TableStyle([("FONT", (0, 0), (-1, -1), REGULAR, 11), *commands])


def _boxed(flowables: list[Flowable], background: Any, edge: Any) -> Table:
    table = _table([[flowables]], [CONTENT_WIDTH])
    table.setStyle(
        _table_style(
            [
                ("BACKGROUND", (0, 0), (-1, -1), background),
                ("BOX", (0, 0), (-1, -1), 0.8, edge),
                ("LEFTPADDING", (0, 0), (-1, -1), 12),
                ("RIGHTPADDING", (0, 0), (-1, -1), 12),
                ("TOPPADDING", (0, 0), (-1, -1), 9),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 10),
            ]
        )
    )
    return table


# ---------------------------------------------------------------- sections


def _header(snapshot: SummarySnapshot) -> list[Flowable]:
    rows: list[tuple[str, str]] = []
    patient = patient_line(snapshot)
    if patient:
        rows.append(patient)
    if snapshot.cancer_type:
        rows.append(("Cancer type", snapshot.cancer_type.label))
    if snapshot.respondent:
        rows.append(("Filled in by", snapshot.respondent.label))
    rows.append(("Completed", format_completed(snapshot.completed_at)))
    rows.append(("Consult date", format_consult(snapshot.consult_date)))
    rows.append(
        ("Questionnaire", f"{snapshot.questionnaire_title}, version {snapshot.questionnaire_version}")
    )

    table = _table(
        [[_para(label, "cell_label"), _para(value, "cell")] for label, value in rows],
        [120, CONTENT_WIDTH - 120],
    )
    table.setStyle(
        _table_style(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
                ("LINEBELOW", (0, -1), (-1, -1), 0.8, RULE),
            ]
        )
    )
    return [
        _para(snapshot.clinic_name, "clinic"),
        Paragraph("Your discussion summary", STYLES["title"]),
        _para(f"{snapshot.questionnaire_title}: points to bring to your care-team meeting", "subtitle"),
        table,
    ]


def _priorities_section(snapshot: SummarySnapshot) -> list[Flowable]:
    flow: list[Flowable] = [Paragraph("What matters most to you", STYLES["h2"])]
    priorities = sorted(snapshot.priorities, key=lambda p: p.rank)
    if not priorities:
        flow.append(_para("You did not rate any priorities.", "body"))
    else:
        flow.append(
            _para(
                "How important each thing is to you, from what matters most to what matters least.", "intro"
            )
        )
        flow.append(_priority_table(priorities, snapshot.most_important))
    if snapshot.side_effect_concerns:
        flow.append(Paragraph("Side effects that worry you", STYLES["label"]))
        flow.extend(
            Paragraph(_markup(concern.label), STYLES["bullet"], bulletText="•")
            for concern in snapshot.side_effect_concerns
        )
    return flow


def _priority_table(priorities: list[RankedPriority], most_important: str | None) -> Table:
    rows = []
    for priority in priorities:
        top = priority.most_important or priority.code == most_important
        label = _markup(priority.label)
        if top:
            label = f"<b>{label}</b><br/><font color='{ACCENT_HEX}'>Matters most to you</font>"
        rows.append(
            [
                Paragraph(f"{priority.rank}.", STYLES["cell"]),
                Paragraph(label, STYLES["cell"]),
                _priority_bar(priority.score),
                _para(priority.rating_label, "cell_right"),
            ]
        )
    rating_width = 128.0
    label_width = CONTENT_WIDTH - 24 - BAR_WIDTH - 12 - rating_width
    table = _table(rows, [24, label_width, BAR_WIDTH + 12, rating_width])
    table.setStyle(
        _table_style(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 6),
                ("LEFTPADDING", (2, 0), (2, -1), 10),
                ("TOPPADDING", (0, 0), (-1, -1), 5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 5),
                ("TOPPADDING", (2, 0), (2, -1), 6),
                ("LINEBELOW", (0, 0), (-1, -2), 0.5, BAR_TRACK),
            ]
        )
    )
    return table


def _evidence_line(citation: EvidenceCitation) -> list[Flowable]:
    kind = _KIND_LABELS.get(citation.kind, citation.kind.replace("_", " ").capitalize())
    sources = ", ".join(escape(source) for source in citation.source_ids)
    # A no-break space keeps "Source:" on the same line as the first id.
    source_note = f" <font color='{MUTED_HEX}'>(Source:\u00a0{sources})</font>" if sources else ""
    flow: list[Flowable] = [
        Paragraph(
            f"<b>{escape(kind)}:</b> {_markup(citation.statement)}{source_note}",
            STYLES["bullet"],
            bulletText="•",
        )
    ]
    if citation.caveat:
        flow.append(Paragraph(f"<b>Keep in mind:</b> {_markup(citation.caveat)}", STYLES["caveat"]))
    return flow


def _point(number: int, point: DiscussionPoint, lead_in: list[Flowable]) -> list[Flowable]:
    """One discussion point; lead_in (a section heading) is kept on the page with its start."""
    title = Paragraph(f"{number}. {_markup(point.title)}", STYLES["h3"])
    why = [Paragraph("Why it is on your list", STYLES["label"]), _para(point.why, "body")]
    flow: list[Flowable] = [CondPageBreak(150), KeepTogether([*lead_in, title, *why])]
    if point.evidence:
        flow.append(Paragraph("What is known", STYLES["label"]))
        for citation in point.evidence:
            flow.extend(_evidence_line(citation))
    if point.questions:
        flow.append(Paragraph("Questions to ask", STYLES["label"]))
        flow.extend(CheckboxParagraph(_markup(question), STYLES["check"]) for question in point.questions)
    flow.append(Spacer(1, 14))
    return flow


def _points_section(snapshot: SummarySnapshot) -> list[Flowable]:
    heading = Paragraph("Points to discuss with your care team", STYLES["h2"])
    if not snapshot.discussion_points:
        return [
            heading,
            _para(
                "Your answers did not add any set points to discuss. You can still bring up anything "
                "on your mind, using the space for your questions and notes below.",
                "body",
            ),
        ]
    intro = _para(
        "These points come from your answers, in the order of what matters most to you. "
        "Tick each question when you have talked about it.",
        "intro",
    )
    flow: list[Flowable] = []
    for number, point in enumerate(snapshot.discussion_points, start=1):
        flow.extend(_point(number, point, [heading, intro] if number == 1 else []))
    return flow


def _conflict_section(snapshot: SummarySnapshot) -> list[Flowable]:
    conflict: ConflictResult = snapshot.conflict
    flow: list[Flowable] = [Paragraph("Where you are in your decision", STYLES["h2"])]
    facts: list[tuple[str, str]] = []
    facts.append(("Leaning toward", snapshot.leaning.label if snapshot.leaning else "Not answered"))
    if snapshot.decision_role:
        facts.append(("How you want to decide", snapshot.decision_role.label))
    if conflict.score is not None:
        facts.append(("Readiness score", f"{conflict.score} out of {conflict.max_score}"))
    else:
        facts.append(
            (
                "Readiness score",
                f"Not finished ({conflict.answered} of {len(conflict.items)} questions answered)",
            )
        )
    facts_table = _table(
        [[_para(label, "cell_label"), _para(value, "cell_bold")] for label, value in facts],
        [170, CONTENT_WIDTH - 170],
    )
    facts_table.setStyle(
        _table_style(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3),
            ]
        )
    )
    flow.append(facts_table)

    if conflict.items:
        flow.append(Paragraph("Your answers to the readiness check", STYLES["label"]))
        rows = [
            [
                _para(item.label, "cell"),
                _para(_CONFLICT_ANSWERS.get(item.answer or "", "Skipped"), "cell_bold"),
            ]
            for item in conflict.items
        ]
        items_table = _table(rows, [CONTENT_WIDTH - 80, 80])
        items_table.setStyle(
            _table_style(
                [
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 0),
                    ("TOPPADDING", (0, 0), (-1, -1), 4),
                    ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
                    ("LINEBELOW", (0, 0), (-1, -2), 0.5, BAR_TRACK),
                ]
            )
        )
        flow.append(items_table)
    if conflict.meaning:
        flow.append(Spacer(1, 10))
        background, edge = (NOTICE, NOTICE_EDGE) if conflict.flagged else (SHADE, RULE)
        flow.append(_boxed(_paragraphs(conflict.meaning, "notice"), background, edge))
    # The section is short: keep the score, the answers and what they mean on one page.
    return [KeepTogether(flow)]


def _own_questions_section(snapshot: SummarySnapshot) -> list[Flowable]:
    flow: list[Flowable] = [Paragraph("Your own questions", STYLES["h2"])]
    lines = _paragraphs(snapshot.own_questions or "", "bullet")
    if not lines:
        flow.append(_para("You did not write any questions. You can add some in the notes below.", "body"))
        return flow
    for line in lines:
        line.bulletText = "•"
    flow.extend(lines)
    return flow


def _notes_section() -> list[Flowable]:
    # Room for the heading and at least the minimum of lines, or a fresh page. The heading is
    # not keep-with-next: the lines size themselves to the space left under it.
    return [
        CondPageBreak(280),
        Paragraph("Notes", STYLES["h2_free"]),
        _para("Write down what you hear at your meeting, or anything new you want to ask.", "intro"),
        NoteLines(min_count=6, max_count=12),
    ]


def _sources_section(snapshot: SummarySnapshot) -> list[Flowable]:
    flow: list[Flowable] = [Paragraph("Sources", STYLES["h2"])]
    if not snapshot.sources:
        flow.append(_para("No sources are cited in this summary.", "body"))
        return flow
    for source in snapshot.sources:
        text = f"<b>{escape(source.id)}</b>  {_markup(source.citation)}"
        if source.date:
            text += f" <font color='{MUTED_HEX}'>({_markup(source.date)})</font>"
        flow.append(Paragraph(text, STYLES["source"]))
    return flow


def _story(snapshot: SummarySnapshot) -> list[Flowable]:
    story: list[Flowable] = []
    story.extend(_header(snapshot))
    story.extend(_priorities_section(snapshot))
    story.extend(_points_section(snapshot))
    story.extend(_conflict_section(snapshot))
    story.extend(_own_questions_section(snapshot))
    story.extend(_notes_section())
    story.extend(_sources_section(snapshot))
    story.append(Spacer(1, 18))
    story.append(KeepTogether([_boxed(_paragraphs(snapshot.disclaimer, "disclaimer"), SHADE, RULE)]))
    return story


# ---------------------------------------------------------------- page furniture


def _footer_canvas(footer_left: str) -> type[Canvas]:
    """A canvas class that holds pages back until the end, so each footer can say 'Page n of m'."""

    class FooterCanvas(Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._page_states: list[dict[str, Any]] = []

        def showPage(self) -> None:
            self._page_states.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._page_states)
            for number, state in enumerate(self._page_states, start=1):
                self.__dict__.update(state)
                self._draw_footer(number, total)
                super().showPage()
            super().save()

        def _draw_footer(self, number: int, total: int) -> None:
            y = BOTTOM_MARGIN - 30
            self.saveState()
            self.setStrokeColor(RULE)
            self.setLineWidth(0.6)
            self.line(CONTENT_LEFT, y + 14, PAGE_WIDTH - CONTENT_LEFT, y + 14)
            self.setFillColor(MUTED)
            self.setFont(REGULAR, 9)
            self.drawString(CONTENT_LEFT, y, footer_left)
            self.setFont(BOLD, 9)
            self.drawRightString(PAGE_WIDTH - CONTENT_LEFT, y, f"Page {number} of {total}")
            self.restoreState()

    return FooterCanvas


def _footer_text(snapshot: SummarySnapshot) -> str:
    text = f"Response {_clean(snapshot.response_id)}"
    # Keep the footer on one line even for an unusually long id.
    return text if len(text) <= 60 else text[:57] + "..."


# ---------------------------------------------------------------- public API


def render_summary_pdf(snapshot: SummarySnapshot) -> bytes:
    """The summary as PDF bytes; byte-identical for the same snapshot."""
    _register_fonts()
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,
        leftMargin=SIDE_MARGIN,
        rightMargin=SIDE_MARGIN,
        topMargin=TOP_MARGIN,
        bottomMargin=BOTTOM_MARGIN,
        title=f"{_clean(snapshot.questionnaire_title)}: discussion summary",
        author=AUTHOR,
        subject=SUBJECT,
        creator=AUTHOR,
        invariant=1,
        lang="en-US",
        # Otherwise each page starts in Helvetica, a font that is referenced but not embedded.
        initialFontName=REGULAR,
        initialFontSize=11,
        initialLeading=16,
        displayDocTitle=1,
    )
    doc.build(_story(snapshot), canvasmaker=_footer_canvas(_footer_text(snapshot)))
    return buffer.getvalue()


async def render_summary_pdf_async(snapshot: SummarySnapshot) -> bytes:
    """render_summary_pdf in a worker thread, so the event loop keeps serving requests."""
    return await anyio.to_thread.run_sync(render_summary_pdf, snapshot)


def pdf_filename(snapshot: SummarySnapshot) -> str:
    """A download name with safe characters only: iort-discussion-summary-<date>-<short id>.pdf."""
    parts = ["iort-discussion-summary"]
    with contextlib.suppress(ValueError):  # an odd date just leaves the date out
        parts.append(datetime.fromisoformat(snapshot.completed_at).date().isoformat())
    short_id = _FILENAME_UNSAFE.sub("", snapshot.response_id.lower())[:8]
    if short_id:
        parts.append(short_id)
    return "-".join(parts) + ".pdf"

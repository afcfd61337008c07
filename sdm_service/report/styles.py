"""Fonts, colours, paragraph styles and text helpers shared by the summary PDF modules."""

from __future__ import annotations

import re
import threading
from datetime import date, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont

from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.report.paragraph import Paragraph
from sdm_service.report.words import _, long_date, weekday_date

FONT_DIR = Path(__file__).parent / "fonts"
REGULAR = "DejaVuSans"
BOLD = "DejaVuSans-Bold"

PAGE_WIDTH, PAGE_HEIGHT = LETTER
SIDE_MARGIN = 0.7 * 72
TOP_MARGIN = 0.6 * 72
BOTTOM_MARGIN = 0.8 * 72  # room for the footer
FRAME_PADDING = 6  # SimpleDocTemplate's frame pads each side by this much
CONTENT_LEFT = SIDE_MARGIN + FRAME_PADDING
CONTENT_WIDTH = PAGE_WIDTH - 2 * CONTENT_LEFT

INK = colors.HexColor("#1f2933")
MUTED_HEX = "#52606d"
MUTED = colors.HexColor(MUTED_HEX)
ACCENT_HEX = "#1f5f99"
ACCENT = colors.HexColor(ACCENT_HEX)
WORRY_HEX = "#9a3412"
BAR_TRACK = colors.HexColor("#dde5ee")
RULE = colors.HexColor("#b8c4d0")
SHADE = colors.HexColor("#eef3f8")
NOTICE = colors.HexColor("#fff6e0")
NOTICE_EDGE = colors.HexColor("#d9a93a")

# C0/C1 control characters other than tab and newline have no glyph and can upset the layout.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")

_font_lock = threading.Lock()
_fonts_ready = False


def register_fonts() -> None:
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
        "fontSize": 10,
        "leading": 13,
        "textColor": INK,
        "splitLongWords": 1,
        "allowWidows": 0,
        "allowOrphans": 0,
    }
    base.update(kwargs)
    return ParagraphStyle(name, **base)


def _bullet_style(name: str, *, indent: float, bullet_indent: float, **text: Any) -> ParagraphStyle:
    """A list item: text indented by `indent`, its bullet hanging at `bullet_indent` and set in the embedded
    face (reportlab's default bullet font, Helvetica, is not embedded in the PDF). `text` as for _style."""
    return _style(name, leftIndent=indent, bulletIndent=bullet_indent, bulletFontName=REGULAR, **text)


# Built once at import; ParagraphStyle only names the fonts, so registration can stay lazy.
STYLES = {
    "clinic": _style("clinic", fontSize=9.5, leading=12, textColor=MUTED),
    "title": _style("title", fontName=BOLD, fontSize=17, leading=21, spaceAfter=4),
    "h2": _style(
        "h2",
        fontName=BOLD,
        fontSize=12.5,
        leading=16,
        textColor=ACCENT,
        spaceBefore=9,
        spaceAfter=4,
        keepWithNext=1,
    ),
    "h2_free": _style("h2_free", fontName=BOLD, fontSize=12.5, leading=16, textColor=ACCENT, spaceBefore=9),
    "h3": _style("h3", fontName=BOLD, fontSize=11, leading=14, spaceBefore=6, spaceAfter=1, keepWithNext=1),
    "label": _style(
        "label", fontName=BOLD, fontSize=9.5, leading=12, textColor=MUTED, spaceBefore=3, keepWithNext=1
    ),
    "body": _style("body", fontSize=9.5, leading=12, spaceAfter=1),
    "small": _style("small", fontSize=9, leading=11.5, textColor=MUTED),
    "cell": _style("cell", fontSize=9, leading=11.2),
    "cell_bold": _style("cell_bold", fontName=BOLD, fontSize=9.5, leading=12),
    "cell_label": _style("cell_label", fontName=BOLD, fontSize=9.5, leading=12, textColor=MUTED),
    "bullet": _bullet_style("bullet", indent=12, bullet_indent=1, fontSize=9.5, leading=12, spaceAfter=1),
    "cell_bullet": _bullet_style(
        "cell_bullet", indent=9, bullet_indent=0, fontSize=9, leading=11.2, spaceAfter=2
    ),
    "check": _style("check", fontSize=9.5, leading=12, leftIndent=18, spaceAfter=2),
    "notice": _style("notice", fontSize=10, leading=13),
    "source": _style("source", fontSize=9, leading=11.5, leftIndent=12, firstLineIndent=-12, spaceAfter=2),
    "disclaimer": _style("disclaimer", fontName=BOLD, fontSize=9, leading=11.5),
}


def clean(text: str) -> str:
    return _CONTROL_CHARS.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " "))


def markup(text: str) -> str:
    """Plain text to safe Paragraph markup; line breaks kept."""
    return escape(clean(text)).replace("\n", "<br/>")


def para(text: str, style: str) -> Paragraph:
    return Paragraph(markup(text), STYLES[style])


def paragraphs(text: str, style: str) -> list[Paragraph]:
    """One Paragraph per non-empty line, so long free text can break across pages between lines."""
    return [para(line.strip(), style) for line in clean(text).split("\n") if line.strip()]


def format_completed(value: str) -> str:
    try:
        return long_date(datetime.fromisoformat(value).date())
    except ValueError:
        return value


def format_consult(value: str | None) -> str:
    if not value:
        return _("Not set yet")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        return value
    return weekday_date(day)


def patient_line(snapshot: SummarySnapshot) -> tuple[str, str] | None:
    patient = snapshot.patient
    if patient.name and patient.name.strip():
        return _("Patient"), patient.name.strip()
    if patient.identifier_value and patient.identifier_value.strip():
        return _("Patient ID"), patient.identifier_value.strip()
    return None


def sources_note(source_ids: tuple[str, ...], entry_id: str | None = None) -> str:
    """ " (B1; CC-IORT, ACS-IORT)" in muted type: the fact's id and its sources."""
    parts = ", ".join(escape(s) for s in source_ids)
    label = f"{escape(entry_id)}; {parts}" if entry_id else parts
    return f" <font color='{MUTED_HEX}' size='8.5'>({label})</font>" if label else ""

"""Small flowables and page furniture for the summary PDF: check boxes, note lines, tables, footer."""

from __future__ import annotations

from typing import Any

from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import Flowable, Table, TableStyle

from sdm_service.report.paragraph import Paragraph
from sdm_service.report.styles import (
    BOLD,
    BOTTOM_MARGIN,
    CONTENT_LEFT,
    CONTENT_WIDTH,
    INK,
    MUTED,
    PAGE_WIDTH,
    REGULAR,
    RULE,
)
from sdm_service.report.words import _


class CheckboxParagraph(Paragraph):
    """A paragraph with an empty check box to tick, drawn beside its first line only."""

    continuation = False

    def draw(self) -> None:
        super().draw()
        if self.continuation:
            return
        size = 9.5
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


def table(rows: list[list[Any]], col_widths: list[float]) -> Table:
    # splitInRow lets a cell taller than a page (a very long answer) continue on the next page.
    return Table(rows, colWidths=col_widths, splitInRow=1)


def table_style(commands: list[tuple[Any, ...]]) -> TableStyle:
    # Tables select their cell font even for flowable cells; name ours so no unembedded
    # Helvetica is referenced.
    return TableStyle([("FONT", (0, 0), (-1, -1), REGULAR, 10), *commands])


def boxed(flowables: list[Flowable], background: Any, edge: Any, width: float = CONTENT_WIDTH) -> Table:
    box = table([[flowables]], [width])
    box.setStyle(
        table_style(
            [
                ("BACKGROUND", (0, 0), (-1, -1), background),
                ("BOX", (0, 0), (-1, -1), 0.8, edge),
                ("LEFTPADDING", (0, 0), (-1, -1), 9),
                ("RIGHTPADDING", (0, 0), (-1, -1), 9),
                ("TOPPADDING", (0, 0), (-1, -1), 5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 6),
            ]
        )
    )
    return box


def footer_canvas(footer_left: str) -> type[Canvas]:
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
            y = BOTTOM_MARGIN - 26
            self.saveState()
            self.setStrokeColor(RULE)
            self.setLineWidth(0.6)
            self.line(CONTENT_LEFT, y + 14, PAGE_WIDTH - CONTENT_LEFT, y + 14)
            self.setFillColor(MUTED)
            self.setFont(REGULAR, 9)
            self.drawString(CONTENT_LEFT, y, footer_left)
            self.setFont(BOLD, 9)
            self.drawRightString(
                PAGE_WIDTH - CONTENT_LEFT,
                y,
                _("Page %(number)s of %(total)s") % {"number": number, "total": total},
            )
            self.restoreState()

    return FooterCanvas

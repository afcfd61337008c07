"""The summary's Paragraph: ReportLab's, laid out once per width instead of once per question.

Platypus asks a paragraph for its size many times during one build: a table sizes every cell, then
sizes it again to draw it (and again for each page a split table continues on), a heading kept with
the next block is sized with that block and then on its own, a frame measures before it places.
Each time ReportLab's Paragraph breaks its lines anew, the costliest step of a render. The line
breaks depend only on the paragraph's text, style and width, so this subclass keeps the last result
and answers again from it for the same width: the same lines, the same PDF bytes, a fraction of the
work (a summary paragraph is sized about twice on average).
"""

from __future__ import annotations

from typing import Any

from reportlab.platypus import paragraph


class Paragraph(paragraph.Paragraph):
    """A Paragraph whose wrap() breaks lines only when the width changes."""

    _laid_out: tuple[float, Any, float] | None = None  # (width, the lines it gave, height)

    def wrap(self, availWidth: float, availHeight: float) -> tuple[float, float]:
        laid_out = self._laid_out
        # The lines are reused only while they are still the ones wrap() made: split() may drop them
        # (del self.blPara) and a split part is a new paragraph with lines of its own.
        if laid_out is not None and laid_out[0] == availWidth and self.__dict__.get("blPara") is laid_out[1]:
            self.width = availWidth
            self.height = laid_out[2]
            return availWidth, laid_out[2]
        width, height = super().wrap(availWidth, availHeight)
        blpara = self.__dict__.get("blPara")
        # Too narrow a width returns early and leaves older lines in place: nothing to keep then.
        fresh = blpara is not None and availWidth >= paragraph._FUZZ
        self._laid_out = (availWidth, blpara, height) if fresh else None
        return width, height

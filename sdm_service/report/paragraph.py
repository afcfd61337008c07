"""The summary's Paragraph: ReportLab's, parsed once per text and laid out once per width.

Platypus asks a paragraph for its size many times during one build: a table sizes every cell, then
sizes it again to draw it (and again for each page a split table continues on), a heading kept with
the next block is sized with that block and then on its own, a frame measures before it places.
Each time ReportLab's Paragraph breaks its lines anew, the costliest step of a render. The line
breaks depend only on the paragraph's text, style and width, so this subclass keeps the last result
and answers again from it for the same width: the same lines, the same PDF bytes, a fraction of the
work (a summary paragraph is sized about twice on average).

Parsing the markup into fragments is the next costliest step, and most of a summary's text is the
content's own (headings, evidence statements, options, questions), the same for every patient of a
language. Parsed fragments depend only on the markup, the style and the bullet, so they are kept
for the process in a bounded least-recently-used cache: shared text is parsed once, a patient's own
words are parsed as they come (and make way for newer text). Each paragraph gets its own copies of
the fragments, since line breaking marks them; the kept ones are never handed out.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from reportlab.lib.styles import ParagraphStyle
from reportlab.platypus import paragraph

# Distinct paragraphs kept. A summary has a few hundred, most of them the content's (the same for
# every patient of a language); this keeps both languages' shared text with room for the patients'.
PARSED_TEXTS = 4096


class _Parsed(NamedTuple):
    text: str
    style: ParagraphStyle
    frags: tuple[Any, ...]
    bullet_text: Any


@functools.lru_cache(maxsize=PARSED_TEXTS)
def _parse(text: str, style: ParagraphStyle, bullet_text: str | None, case_sensitive: int) -> _Parsed:
    """ReportLab's own parse of the markup (a plain Paragraph parses as it is made)."""
    parsed = paragraph.Paragraph(text, style, bullet_text, caseSensitive=case_sensitive)
    return _Parsed(parsed.text, parsed.style, tuple(parsed.frags), parsed.bulletText)


def _copies(frags: Any) -> Any:
    return [frag.clone() for frag in frags] if isinstance(frags, list | tuple) else frags


class Paragraph(paragraph.Paragraph):
    """A Paragraph whose markup is parsed once per text and style, and whose wrap() breaks lines
    only when the width changes."""

    _laid_out: tuple[float, Any, float] | None = None  # (width, the lines it gave, height)

    def _setup(self, text: Any, style: Any, bulletText: Any, frags: Any, cleaner: Any) -> None:
        # Split parts arrive with fragments of their own, and only plain text markup is kept.
        if (
            frags is not None
            or cleaner is not paragraph.cleanBlockQuotedText
            or not isinstance(text, str)
            or not isinstance(style, ParagraphStyle)
            or not (bulletText is None or isinstance(bulletText, str))
        ):
            super()._setup(text, style, bulletText, frags, cleaner)
            return
        parsed = _parse(text, style, bulletText, self.caseSensitive)
        self.text = parsed.text
        self.frags = _copies(parsed.frags)
        self.style = parsed.style
        self.bulletText = _copies(parsed.bullet_text)
        self.debug = 0

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

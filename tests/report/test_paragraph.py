"""The summary's Paragraph parses once per text and style, breaks its lines once per width, and
answers exactly as ReportLab's does."""

from __future__ import annotations

import uuid

import pytest
from reportlab.platypus import paragraph as reportlab_paragraph
from reportlab.platypus.paraparser import ParaParser

from sdm_service.report.paragraph import PARSED_TEXTS, Paragraph, _parse
from sdm_service.report.styles import STYLES, register_fonts

TEXT = (
    "<b>Good side:</b> a long enough sentence about the treatment to wrap onto several lines in a "
    "narrow table cell, with a <font color='#52606d' size='8.5'>(B1; CC-IORT)</font> note at its end."
)


@pytest.fixture(autouse=True)
def fonts() -> None:
    register_fonts()


def lines(p: reportlab_paragraph.Paragraph) -> list[str]:
    return [" ".join(word.text for word in line.words) for line in p.blPara.lines]


def count_breaks(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    calls: list[float] = []
    original = reportlab_paragraph.Paragraph.breakLines

    def counted(self: reportlab_paragraph.Paragraph, width: object) -> object:
        calls.append(width[-1] if isinstance(width, list) else width)  # type: ignore[arg-type]
        return original(self, width)

    monkeypatch.setattr(reportlab_paragraph.Paragraph, "breakLines", counted)
    return calls


def test_same_width_is_laid_out_once_with_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_breaks(monkeypatch)
    ours = Paragraph(TEXT, STYLES["cell_bullet"], bulletText="•")
    first = ours.wrap(160, 500)
    assert ours.wrap(160, 200) == first  # the height asked for does not change the lines
    assert len(calls) == 1
    plain = reportlab_paragraph.Paragraph(TEXT, STYLES["cell_bullet"], bulletText="•")
    assert plain.wrap(160, 500) == first
    assert lines(ours) == lines(plain)


def test_a_new_width_breaks_the_lines_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_breaks(monkeypatch)
    ours = Paragraph(TEXT, STYLES["cell_bullet"], bulletText="•")
    narrow = ours.wrap(120, 500)
    wide = ours.wrap(400, 500)
    assert len(calls) == 2
    assert wide[1] < narrow[1]
    assert ours.wrap(120, 500) == narrow
    assert len(calls) == 3  # back to the first width: the lines kept were the wide ones
    assert ours.wrap(0.0, 500) == (0, 0x7FFFFFFF)  # no room: ReportLab's own answer


def test_lines_dropped_by_a_split_are_made_again(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_breaks(monkeypatch)
    ours = Paragraph(TEXT, STYLES["cell_bullet"], bulletText="•")
    width, height = ours.wrap(120, 500)
    # Room for one line only: without orphans allowed it will not split and drops its lines.
    assert ours.split(120, STYLES["cell_bullet"].leading * 1.5) == []
    assert ours.wrap(120, 500) == (width, height)
    assert len(calls) == 2
    parts = ours.split(120, height - STYLES["cell_bullet"].leading * 2)
    assert len(parts) == 2
    first, rest = parts
    assert first.wrap(120, 500)[1] + rest.wrap(120, 500)[1] == pytest.approx(height)


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    original = ParaParser.parse

    def counted(self: ParaParser, text: str, style: object) -> object:
        calls.append(text)
        return original(self, text, style)

    monkeypatch.setattr(ParaParser, "parse", counted)
    return calls


def unique(text: str) -> str:
    """Text no earlier test parsed, so the process-wide cache cannot already hold it."""
    return f"{text} <b>{uuid.uuid4().hex}</b>"


def test_the_same_markup_and_style_is_parsed_once(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_parses(monkeypatch)
    text = unique(TEXT)
    first = Paragraph(text, STYLES["cell_bullet"], bulletText="•")
    again = Paragraph(text, STYLES["cell_bullet"], bulletText="•")
    assert len(calls) == 1
    Paragraph(text, STYLES["cell"], bulletText="•")  # another style: other fonts, parsed anew
    Paragraph(text, STYLES["cell_bullet"], bulletText="-")  # another bullet
    Paragraph(unique(TEXT), STYLES["cell_bullet"], bulletText="•")  # a patient's own words
    assert len(calls) == 4
    plain = reportlab_paragraph.Paragraph(text, STYLES["cell_bullet"], bulletText="•")
    for ours in (first, again):
        assert ours.wrap(160, 500) == plain.wrap(160, 500)
        assert lines(ours) == lines(plain)
        assert ours.style is plain.style
        assert ours.bulletText == plain.bulletText


def test_paragraphs_from_one_parse_share_no_fragment() -> None:
    """Line breaking marks a paragraph's fragments (and draws from them): each has its own."""
    text = unique(TEXT)
    first = Paragraph(text, STYLES["cell"])
    second = Paragraph(text, STYLES["cell"])
    assert len(first.frags) == len(second.frags) > 1
    assert not {id(f) for f in first.frags} & {id(f) for f in second.frags}
    first.frags[0].text = "changed"
    assert second.frags[0].text != "changed"
    assert Paragraph(text, STYLES["cell"]).frags[0].text == second.frags[0].text


def test_the_parse_cache_is_bounded() -> None:
    assert _parse.cache_info().maxsize == PARSED_TEXTS


def test_fragments_given_or_split_parts_are_not_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = count_parses(monkeypatch)
    ours = Paragraph(unique(TEXT), STYLES["cell_bullet"], bulletText="•")
    _width, height = ours.wrap(120, 500)
    first, rest = ours.split(120, height - STYLES["cell_bullet"].leading * 2)
    assert len(calls) == 1
    assert first.wrap(120, 500)[1] + rest.wrap(120, 500)[1] == pytest.approx(height)

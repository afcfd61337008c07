"""The PDF summary, read back with pypdf: content, page furniture, metadata and determinism."""

from __future__ import annotations

import io
import re
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from sdm_service.cli import main as sdm
from sdm_service.decision.snapshot import DiscussionPoint, EvidenceCitation, SummarySnapshot
from sdm_service.report import pdf as pdf_module
from sdm_service.report import pdf_filename, render_summary_pdf, render_summary_pdf_async
from tests.factories import sample_snapshot

REPO_ROOT = Path(__file__).resolve().parents[2]
# Curly quotes, en and em dashes, an ellipsis (spelled as escapes so the source stays unambiguous).
ODD_PUNCTUATION = "Ça va? \u201cQuotes\u201d \u2013 dashes \u2014 and \u2018single\u2019 ones\u2026"


def read(data: bytes) -> PdfReader:
    return PdfReader(io.BytesIO(data))


def page_texts(data: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in read(data).pages]


def full_text(data: bytes) -> str:
    return " ".join(page_texts(data))


def squeezed(text: str) -> str:
    """Text without any whitespace, for words the layout had to break across lines."""
    return re.sub(r"\s+", "", text)


def make_point(index: int, **overrides: Any) -> DiscussionPoint:
    data: dict[str, Any] = {
        "id": f"point-{index}",
        "title": f"Discussion point number {index}",
        "why": f"You gave answer {index}, which matters for this point.",
        "evidence": (
            EvidenceCitation(
                id=f"E{index}",
                kind="limitation",
                statement=f"Statement {index} about what is known, restated plainly.",
                source_ids=(f"SRC-{index}",),
            ),
        ),
        "questions": (f"What does point {index} mean for me?",),
    }
    data.update(overrides)
    return DiscussionPoint(**data)


@pytest.fixture(scope="module")
def sample() -> SummarySnapshot:
    return sample_snapshot()


@pytest.fixture(scope="module")
def sample_pdf(sample: SummarySnapshot) -> bytes:
    return render_summary_pdf(sample)


def test_sample_pdf_holds_everything_the_patient_needs(sample: SummarySnapshot, sample_pdf: bytes) -> None:
    text = full_text(sample_pdf)
    assert sample_pdf.startswith(b"%PDF-")
    assert "Your discussion summary" in text
    assert sample.clinic_name in text
    assert "Maria Núñez-Schäfer" in text
    assert "November 20, 2026" in text  # completed
    assert "Thursday, December 3, 2026" in text  # consult
    assert f"version {sample.questionnaire_version}" in text

    # Page 1 holds the top three priorities (issue 13), the one that matters most marked.
    assert "What matters most to you" in text
    for priority in sorted(sample.priorities, key=lambda p: p.rank)[:3]:
        assert priority.label in text
        assert priority.rating_label in text
    assert "(matters most to you)" in text

    assert "Points to discuss with your care team" in text
    for number, point in enumerate(sample.discussion_points, start=1):
        assert f"{number}. {point.title}" in text
        assert point.why in text
        for question in point.questions:
            assert question in text
        for citation in point.evidence:
            for source_id in citation.source_ids:
                assert source_id in text
    for row in sample.grid:
        assert row.title in text
        for citation in row.iort:
            assert citation.id in text
    for source in sample.sources:
        assert source.id in text
        assert source.date in text

    assert sample.leaning is not None
    assert sample.leaning.summary is not None
    assert sample.leaning.summary in text
    assert "You answered yes to 3 of 4 readiness questions." in text
    assert " ".join(sample.conflict.meaning.split()) in text
    assert sample.own_questions is not None
    for line in sample.own_questions.splitlines():
        assert line in text
    assert "Notes" in text
    assert " ".join(sample.disclaimer.split()) in text


def test_priorities_are_listed_in_rank_order(sample: SummarySnapshot, sample_pdf: bytes) -> None:
    text = page_texts(sample_pdf)[0]
    positions = [text.index(p.label) for p in sorted(sample.priorities, key=lambda p: p.rank)[:3]]
    assert positions == sorted(positions)


def test_every_page_has_a_footer_with_page_of_total_and_response_id(sample_pdf: bytes) -> None:
    texts = page_texts(sample_pdf)
    total = len(texts)
    assert total >= 2
    for number, text in enumerate(texts, start=1):
        assert f"Page {number} of {total}" in text
        assert "Response 3f6c2a9e-8b1d-4c7a-9e2f-5a4b3c2d1e0f" in text


def test_metadata_names_the_document_and_the_service(sample_pdf: bytes) -> None:
    metadata = read(sample_pdf).metadata
    assert metadata is not None
    assert metadata.title == "Thinking about radiation during surgery (IORT): discussion summary"
    assert metadata.author == "sdm-service"
    assert metadata.subject == "Points to discuss with your care team"
    # The patient's name stays out of metadata, which file browsers show without opening the file.
    assert "Núñez" not in str(dict(metadata))


def test_page_is_letter_size(sample_pdf: bytes) -> None:
    for page in read(sample_pdf).pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == (612.0, 792.0)


def test_fonts_are_embedded_dejavu(sample_pdf: bytes) -> None:
    seen = set()
    for page in read(sample_pdf).pages:
        fonts = page["/Resources"]["/Font"]
        for ref in fonts.values():
            font = ref.get_object()
            seen.add(str(font["/BaseFont"]))
            descriptor = font["/FontDescriptor"].get_object()
            assert "/FontFile2" in descriptor, f"{font['/BaseFont']} is not embedded"
    assert any(name.endswith("+DejaVuSans") for name in seen)
    assert any(name.endswith("+DejaVuSans-Bold") for name in seen)


def test_text_stays_readable_in_the_four_page_layout(sample_pdf: bytes) -> None:
    """Issue 13 fits the meeting summary on four pages: running text is at least 9 points, and only
    source ids, the footer and the small print under headings go down to 8.5."""
    sizes: list[tuple[float, str]] = []

    def visit(text: str, cm: Any, tm: Any, font_dict: Any, font_size: float) -> None:
        size = font_size * abs(tm[3]) if tm[3] else font_size
        if text.strip():
            sizes.append((size, text.strip()))

    for page in read(sample_pdf).pages:
        page.extract_text(visitor_text=visit)
    assert min(size for size, _ in sizes) >= 8.5
    characters = sum(len(t) for _, t in sizes)
    running = sum(len(t) for size, t in sizes if size >= 9)
    assert running / characters > 0.8


def test_two_renders_are_byte_identical(sample: SummarySnapshot, sample_pdf: bytes) -> None:
    assert render_summary_pdf(sample) == sample_pdf
    assert render_summary_pdf(sample_snapshot()) == sample_pdf


def test_render_in_a_fresh_process_is_byte_identical(sample_pdf: bytes) -> None:
    code = (
        "import sys\n"
        "from sdm_service.report import render_summary_pdf\n"
        "from sdm_service.report.sample import example_snapshot\n"
        "sys.stdout.buffer.write(render_summary_pdf(example_snapshot()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, cwd=REPO_ROOT, timeout=120
    )
    assert result.stdout == sample_pdf


def test_different_snapshots_give_different_pdfs(sample_pdf: bytes) -> None:
    other = render_summary_pdf(sample_snapshot(response_id="00000000-0000-0000-0000-000000000001"))
    assert other != sample_pdf
    assert "Response 00000000-0000-0000-0000-000000000001" in full_text(other)


async def test_async_renders_called_together_all_match(sample: SummarySnapshot, sample_pdf: bytes) -> None:
    results: list[bytes] = []

    async def render() -> None:
        results.append(await render_summary_pdf_async(sample))

    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(render)
    assert results == [sample_pdf] * 4


async def test_async_renders_of_one_event_loop_take_turns(
    sample: SummarySnapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A burst of completions renders one PDF at a time (in a thread), not one thread each."""
    release = threading.Event()

    def held_render(snapshot: SummarySnapshot) -> bytes:
        release.wait(60)  # until the test has looked (a safety bound, not a timing)
        return b"%PDF-"

    monkeypatch.setattr(pdf_module, "render_summary_pdf", held_render)
    async with anyio.create_task_group() as group:
        for _ in range(4):
            group.start_soon(render_summary_pdf_async, sample)
        await anyio.wait_all_tasks_blocked()
        turns = pdf_module.render_limiter().statistics()
        assert (turns.borrowed_tokens, turns.tasks_waiting) == (pdf_module.RENDERS_AT_ONCE, 3)
        release.set()


def test_page_count_grows_with_points() -> None:
    none = read(render_summary_pdf(sample_snapshot(discussion_points=[])))
    few = read(render_summary_pdf(sample_snapshot(discussion_points=[make_point(i) for i in range(3)])))
    many_points = [make_point(i) for i in range(40)]
    many_pdf = render_summary_pdf(sample_snapshot(discussion_points=many_points))
    many = read(many_pdf)
    assert len(none.pages) < len(many.pages)
    assert len(few.pages) < len(many.pages)
    text = full_text(many_pdf)
    for number, point in enumerate(many_points, start=1):
        assert f"{number}. {point.title}" in text
        assert point.evidence[0].source_ids[0] in text
        assert point.questions[0] in text


def test_long_own_questions_flow_onto_further_pages() -> None:
    short = read(render_summary_pdf(sample_snapshot(own_questions="Just one question?")))
    lines = [f"Question {i}: what should I expect on the day of surgery and after it?" for i in range(120)]
    data = render_summary_pdf(sample_snapshot(own_questions="\n".join(lines)))
    assert len(read(data).pages) > len(short.pages)
    text = full_text(data)
    for line in lines:
        assert line in text


LONG_WORD_COUNT = 1200
LONG_TEXT = " ".join(f"word{i}" for i in range(LONG_WORD_COUNT))  # pages of text in one field


@pytest.mark.parametrize(
    "field",
    ["why", "own_questions", "meaning", "disclaimer", "patient_name", "priority_label", "readiness_item"],
)
def test_a_field_longer_than_a_page_flows_on_without_losing_text(field: str) -> None:
    base = sample_snapshot()
    overrides: dict[str, Any] = {
        "why": {"discussion_points": [make_point(1, why=LONG_TEXT)]},
        "own_questions": {"own_questions": LONG_TEXT},
        "meaning": {"conflict": base.conflict.model_copy(update={"meaning": LONG_TEXT})},
        "disclaimer": {"disclaimer": LONG_TEXT},
        "patient_name": {"patient": {"name": LONG_TEXT}},
        "priority_label": {"priorities": [base.priorities[0].model_copy(update={"label": LONG_TEXT})]},
        "readiness_item": {
            "conflict": base.conflict.model_copy(
                update={"items": (base.conflict.items[0].model_copy(update={"label": LONG_TEXT}),)}
            )
        },
    }[field]
    data = render_summary_pdf(sample_snapshot(**overrides))
    assert len(read(data).pages) > len(read(render_summary_pdf(base)).pages)
    # Every word once, in order (footers of the pages it crosses sit between them).
    assert re.findall(r"word\d+", full_text(data)) == [f"word{i}" for i in range(LONG_WORD_COUNT)]


def test_odd_text_renders_readably() -> None:
    long_word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 6
    point = make_point(
        1,
        title=ODD_PUNCTUATION,
        why=f"Accents: é ü ñ ø å ç ß. A very long word: {long_word}.",
        questions=(f"Is {long_word} a problem?", "Does 5 ≤ 6 hold & <b>stay</b> literal?"),
    )
    snapshot = sample_snapshot(
        patient={"name": "José Ñúñez-Müller", "identifier_system": None, "identifier_value": None},
        discussion_points=[point],
        own_questions="Línea uno\r\nzweite Zeile über Ärzte\rthird\tline\x07 with a bell",
    )
    data = render_summary_pdf(snapshot)
    text = full_text(data)
    assert ODD_PUNCTUATION in text
    assert "é ü ñ ø å ç ß" in text
    assert "José Ñúñez-Müller" in text
    assert "Does 5 ≤ 6 hold & <b>stay</b> literal?" in text
    assert "zweite Zeile über Ärzte" in text
    assert "third line with a bell" in text
    assert squeezed(long_word) in squeezed(text)


def test_empty_optional_fields_render() -> None:
    base = sample_snapshot()
    snapshot = sample_snapshot(
        patient={},
        respondent=None,
        cancer_type=None,
        consult_date=None,
        priorities=[],
        most_important=None,
        discussion_points=[],
        side_effect_concerns=[],
        leaning=None,
        decision_role=None,
        conflict=base.conflict.model_copy(update={"score": None, "answered": 0, "flagged": True}),
        own_questions=None,
        sources=[],
    )
    data = render_summary_pdf(snapshot)
    text = full_text(data)
    assert "Patient" not in text.split("Completed")[0]
    assert "Consult date Not set yet" in text
    assert "You did not rate any priorities." in text
    assert "Your answers did not add any set points to discuss." in text
    assert "Not finished: you answered 0 of 4 readiness questions." in text
    assert "You did not write any questions." in text
    assert "Page 1 of" in text


def test_blank_own_questions_count_as_none() -> None:
    text = full_text(render_summary_pdf(sample_snapshot(own_questions="  \n \n")))
    assert "You did not write any questions." in text


def test_patient_identifier_shows_when_there_is_no_name() -> None:
    snapshot = sample_snapshot(
        patient={"name": None, "identifier_system": "urn:oid:1.2.3", "identifier_value": "MRN-00421"}
    )
    assert "Patient ID MRN-00421" in full_text(render_summary_pdf(snapshot))


def test_unparsable_dates_are_shown_as_given() -> None:
    snapshot = sample_snapshot(completed_at="sometime", consult_date="next week")
    text = full_text(render_summary_pdf(snapshot))
    assert "Completed sometime" in text
    assert "Consult date next week" in text


@pytest.mark.parametrize(
    ("completed_at", "response_id", "expected"),
    [
        (
            "2026-11-20T15:42:10Z",
            "3f6c2a9e-8b1d-4c7a-9e2f-5a4b3c2d1e0f",
            "iort-discussion-summary-2026-11-20-3f6c2a9e.pdf",
        ),
        (
            "2026-01-02T00:00:00+00:00",
            '../../etc/"passwd"; x',
            "iort-discussion-summary-2026-01-02-etcpassw.pdf",
        ),
        ("not a date", "ÄÖ", "iort-discussion-summary.pdf"),
    ],
)
def test_pdf_filename_uses_safe_characters(completed_at: str, response_id: str, expected: str) -> None:
    name = pdf_filename(sample_snapshot(completed_at=completed_at, response_id=response_id))
    assert name == expected
    assert re.fullmatch(r"[a-z0-9-]+\.pdf", name)


def test_sample_pdf_command_writes_a_readable_pdf(tmp_path: Path, sample_pdf: bytes) -> None:
    out = tmp_path / "nested" / "sample.pdf"
    result = CliRunner().invoke(sdm, ["sample-pdf", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert f"Wrote {out}" in result.output
    assert out.read_bytes() == sample_pdf


def test_sample_pdf_command_reports_an_unwritable_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(sdm, ["sample-pdf", "--out", str(blocker / "sample.pdf")])
    assert result.exit_code != 0
    assert "Could not write" in result.output

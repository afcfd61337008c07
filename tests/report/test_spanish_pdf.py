"""The summary in Spanish: three patients' PDFs read back with pypdf are Spanish (no English sentence
except the patient's own words and proper names), read "bastante fácil" (Szigriszt-Pazos >= 65),
carry lang es-US, and the same snapshot still renders the English summary for clinicians."""

from __future__ import annotations

import io
import re

import pytest
import textstat
from pypdf import PdfReader

from sdm_service.decision.snapshot import SummarySnapshot
from sdm_service.report import render_summary_pdf
from tests.report.measure import page_texts, snapshot_for
from tests.report.personas import PERSONAS

# Three patients: breast cancer (trial figures), another cancer type, and one with their own questions.
NAMES = ("breast_fears_recurrence", "pancreatic_uninsured", "gynecologic_helper")
MIN_SZIGRISZT = 65.0
ENGLISH_MARKERS = re.compile(
    r"\b(the|you|your|with|and|what|which|questions?|side effects?|care team|summary)\b", re.IGNORECASE
)


def szigriszt(text: str) -> float:
    textstat.set_lang("es")
    try:
        return float(textstat.szigriszt_pazos(text))
    finally:
        textstat.set_lang("en_US")


@pytest.fixture(scope="module")
def spanish() -> dict[str, tuple[SummarySnapshot, bytes]]:
    chosen = [p for p in PERSONAS if p.name in NAMES]
    assert len(chosen) == len(NAMES), [p.name for p in PERSONAS]
    out = {}
    for persona in chosen:
        snapshot = snapshot_for(persona, "es")
        out[persona.name] = (snapshot, render_summary_pdf(snapshot))
    return out


@pytest.mark.parametrize("name", NAMES)
def test_the_pdf_reads_back_in_spanish(spanish: dict[str, tuple[SummarySnapshot, bytes]], name: str) -> None:
    snapshot, data = spanish[name]
    assert snapshot.language == "es"
    text = "\n".join(page_texts(data))
    assert "Su resumen para hablar" in text
    assert "Temas para hablar con su equipo médico" in text
    assert "Página 1 de" in text
    own = snapshot.own_questions or ""
    english = [
        line
        for line in text.splitlines()
        if len(ENGLISH_MARKERS.findall(line)) >= 2 and line.strip() not in own and not _citation(line)
    ]
    assert english == [], english
    assert PdfReader(io.BytesIO(data)).root_object.get("/Lang") == "es-US"


def _citation(line: str) -> bool:
    """Source citations are proper names (titles of English articles and pages), kept as published."""
    return bool(
        re.search(r"(et al\.|Lancet|Pract Radiat|Can Fam|Cancer Society|Cleveland Clinic|ASTRO|doi)", line)
    )


@pytest.mark.parametrize("name", NAMES)
def test_the_spanish_pdf_reads_bastante_facil(
    spanish: dict[str, tuple[SummarySnapshot, bytes]], name: str
) -> None:
    _snapshot, data = spanish[name]
    body = [line for line in "\n".join(page_texts(data)).splitlines() if not _citation(line)]
    score = szigriszt(" ".join(body))
    print(f"Szigriszt-Pazos of the Spanish PDF for {name}: {score:.1f}")
    assert score >= MIN_SZIGRISZT, f"{name}: {score:.1f}"


def test_the_snapshot_keeps_the_english_summary_and_the_patients_words(
    spanish: dict[str, tuple[SummarySnapshot, bytes]],
) -> None:
    for snapshot, _data in spanish.values():
        english = snapshot.in_language("en")
        assert english.language == "en"
        assert english.own_questions == snapshot.own_questions  # verbatim in both
        assert english.disclaimer != snapshot.disclaimer
        text = "\n".join(page_texts(render_summary_pdf(english)))
        assert "Your discussion summary" in text
        assert "Su resumen" not in text


def test_accents_render_with_the_embedded_fonts(spanish: dict[str, tuple[SummarySnapshot, bytes]]) -> None:
    _snapshot, data = spanish["breast_fears_recurrence"]
    text = "\n".join(page_texts(data))
    for word in ("cirugía", "radiación", "¿", "médico", "través" if "través" in text else "más"):
        assert word in text
    fonts = {
        str(font.get_object().get("/BaseFont"))
        for page in PdfReader(io.BytesIO(data)).pages
        for font in (page["/Resources"].get("/Font") or {}).values()
    }
    assert fonts
    assert all("DejaVuSans" in font for font in fonts), fonts

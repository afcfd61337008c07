"""Start-up work that makes the first requests after a deploy safe.

Each loaded questionnaire version is stored once, before any patient arrives. Otherwise the first
patients to complete a new version race to insert it (a unique-key violation for all but one) and
in-progress responses could not yet be mapped to FHIR against their stored form.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.sql.dml import Insert

from sdm_service.content import Content, ContentLibrary
from sdm_service.models import QuestionnaireVersion, utcnow

logger = logging.getLogger("sdm_service.warmup")


def version_row(content: Content) -> dict[str, Any]:
    return {
        "slug": content.slug,
        "version": content.version,
        "content_hash": content.content_hash,
        "definition": content.definition(),
        "created_at": utcnow(),
    }


def insert_versions_ignoring_duplicates(dialect_name: str) -> Insert:
    """INSERT ... ON CONFLICT DO NOTHING: several workers or patients may record one version at once."""
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    return insert(QuestionnaireVersion).on_conflict_do_nothing(index_elements=["slug", "version"])


async def register_questionnaire_versions(engine: AsyncEngine, library: ContentLibrary) -> None:
    rows = [version_row(content) for content in library.by_slug.values()]
    if not rows:
        return
    statement = insert_versions_ignoring_duplicates(engine.dialect.name)
    try:
        async with engine.begin() as connection:
            await connection.execute(statement, rows)
    except (SQLAlchemyError, OSError) as exc:  # the database may be down at start; completion retries
        reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        logger.warning("could not record questionnaire versions at start-up: %s", reason)

"""The questionnaire a response is pinned to, found one way everywhere.

A response keeps the slug and version it was started on. The loaded content answers for its own
version; older versions come from the definitions stored when a response was completed against
them (questionnaire_versions). An in-progress response on an older version has no stored
definition (versions are kept at completion): callers that must lay its answers out anyway ask
for the current form of the same questionnaire (`current_if_unknown`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from sdm_service.content import Content, ContentLibrary
from sdm_service.content.schema import Questionnaire
from sdm_service.models import QuestionnaireVersion


def from_definition(definition: Mapping[str, Any] | None) -> Questionnaire | None:
    """The questionnaire in a stored definition, or None when it is missing or unreadable."""
    if not isinstance(definition, Mapping):
        return None
    try:
        return Questionnaire.model_validate(definition.get("questionnaire", {}))
    except (ValidationError, TypeError, ValueError):
        return None


def choose_pinned(
    content: Content | None,
    version: str,
    stored_definition: Mapping[str, Any] | None,
    *,
    current_if_unknown: bool = False,
) -> Questionnaire | None:
    """The rule, as a pure function: the loaded content when its version matches, else the stored
    definition, else (if asked) the current form, else None."""
    if content is not None and content.version == version:
        return content.questionnaire
    stored = from_definition(stored_definition)
    if stored is not None:
        return stored
    if current_if_unknown and content is not None:
        return content.questionnaire
    return None


async def pinned_questionnaire(
    session: AsyncSession,
    library: ContentLibrary,
    slug: str,
    version: str,
    *,
    current_if_unknown: bool = False,
) -> Questionnaire | None:
    """The questionnaire version `slug`/`version` (see choose_pinned); reads the database only for
    a version other than the loaded one."""
    content = library.by_slug.get(slug)
    if content is not None and content.version == version:
        return content.questionnaire
    stored = (
        await session.execute(
            select(QuestionnaireVersion).where(
                col(QuestionnaireVersion.slug) == slug, col(QuestionnaireVersion.version) == version
            )
        )
    ).scalar_one_or_none()
    definition = stored.definition if stored is not None else None
    return choose_pinned(content, version, definition, current_if_unknown=current_if_unknown)
